"""A failed job tells its user one line; the traceback goes to the worker's log with the job id."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from mnistlab.settings import Settings
from models_store import checkpoints
from tests.helpers.jobs import QUICK_JOB
from workers.worker import Worker


@pytest.mark.datasets
def test_a_job_that_raises_fails_with_one_line_and_the_traceback_is_logged(
        client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    job_id = client.post("/jobs", json=QUICK_JOB).json()["id"]
    # A corrupt "last" checkpoint: resuming from it raises deep inside torch.load.
    path = checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint\nat all")
    with caplog.at_level(logging.ERROR, logger="workers.worker"):
        assert Worker(settings).run(burst=True) == 1

    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed"
    assert "\n" not in job["error"] and job["error"].startswith("UnpicklingError: ")
    assert "Traceback" not in job["error"] and ".py" not in job["error"]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.job_id == job_id and record.exc_info is not None  # the whole traceback, for operators
    assert record.getMessage() == "failed"
