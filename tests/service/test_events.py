"""Server-Sent Events of a job trained by a real worker process."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.helpers.servers import Processes

pytestmark = pytest.mark.datasets

JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "batch_size": 64, "seed": 2}


def _read_events(client: TestClient, job_id: int, headers: dict | None = None) -> list[dict]:
    events, current = [], {}
    with client.stream("GET", f"/jobs/{job_id}/events", headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                current = {}
            elif line.startswith(("id:", "event:", "data:")):
                key, value = line.split(":", 1)
                current[key] = json.loads(value) if key == "data" else value.strip()
    return events


@pytest.mark.slow  # a worker process trains the job
def test_events_stream_progress_each_epoch_and_the_final_status(client: TestClient, processes: Processes) -> None:
    job_id = client.post("/jobs", json=JOB).json()["id"]
    processes.worker()
    events = _read_events(client, job_id)
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "status" and events[-1]["data"]["status"] == "succeeded"
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["data"]["epoch"] for e in epochs] == [1, 2, 3]
    assert [e["id"] for e in epochs] == ["epoch-1", "epoch-2", "epoch-3"]
    assert "progress" in kinds and any(0 < e["data"]["fraction"] < 1 for e in events if e["event"] == "progress")

    resumed = _read_events(client, job_id, {"Last-Event-ID": "epoch-2"})
    assert [e["event"] for e in resumed] == ["epoch", "status"] and resumed[0]["data"]["epoch"] == 3


def test_events_of_an_unknown_job_are_404(client: TestClient) -> None:
    assert client.get("/jobs/424242/events").status_code == 404
