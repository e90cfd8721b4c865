"""Training workers: claim queued jobs, train on the job's device, checkpoint, report metrics."""
