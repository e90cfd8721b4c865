"""mnistlab core: settings, database schema, the job queue's transitions, data sets and the CLI."""
