"""The HTTP API: jobs, predictions, models, the lab's figures and the dashboard."""
