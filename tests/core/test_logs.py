"""Logs: one line per event naming the job and the worker; JSON lines with MNISTLAB_LOG_JSON=true."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mnistlab.logs import TextFormatter
from mnistlab.settings import Settings
from tests.helpers.servers import Processes, wait_for


@pytest.mark.slow  # a worker process
@pytest.mark.datasets
def test_a_workers_json_log_has_one_object_per_line_with_job_and_worker(client: TestClient, settings: Settings,
                                                                       processes: Processes, tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    worker = processes.worker(settings=settings.model_copy(update={"log_json": True}), log=log_path)
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 2, "seed": 1}).json()["id"]
    wait_for(lambda: client.get(f"/jobs/{job_id}").json()["status"] == "succeeded", timeout=60, what="the job")
    processes.stop_all()
    assert worker.returncode == 0

    lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "pid"} <= set(line) for line in lines)
    worker_ids = {line["worker_id"] for line in lines if "worker_id" in line}
    assert len(worker_ids) == 1
    about_job = [line["message"] for line in lines if line.get("job_id") == job_id]
    assert about_job[0].startswith("claimed (attempt 1")
    assert [message.split(":")[0] for message in about_job if message.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert about_job[-1] == "succeeded"


def test_text_lines_carry_the_job_and_worker_before_any_traceback() -> None:
    record = logging.LogRecord("workers.worker", logging.ERROR, __file__, 1, "failed", None, None)
    record.job_id, record.worker_id = 7, "host-12-abcdef"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(record).splitlines()
    assert first.endswith("workers.worker: failed [job_id=7 worker_id=host-12-abcdef]")
    assert rest[-1] == "ValueError: boom"
