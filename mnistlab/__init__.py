"""mnistlab core: settings, database schema, the job queue's transitions, data sets and the CLI."""

__version__ = "0.1.0"  # the one place it is written (pyproject.toml reads it)
