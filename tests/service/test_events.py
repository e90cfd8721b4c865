"""Server-Sent Events of a job trained by a real worker process."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
from fastapi.testclient import TestClient

from mnistlab.settings import Settings
from tests.helpers.servers import Processes, wait_for

pytestmark = pytest.mark.datasets

# Batches of 32: each epoch's batches outlast one heartbeat interval (0.75 s here), so a beat lands inside one.
JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "batch_size": 32, "seed": 2}


def _read_events(client: TestClient, job_id: int, headers: dict | None = None,
                 events: list[dict] | None = None) -> list[dict]:
    """The stream's events, appended to `events` (a list another thread may watch) as they arrive."""
    events, current = [] if events is None else events, {}
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


def _inside_an_epoch(event: dict) -> bool:
    return event["event"] == "progress" and 0 < event["data"]["fraction"] < 1


def _hold_inside_an_epoch(settings: Settings, job_id: int, worker: subprocess.Popen[bytes],
                          told: list[dict], read: threading.Event) -> None:
    """Stop the worker (SIGSTOP) while the database holds a progress inside an epoch, until the stream has told
    it: a beat lasts until the next one or the epoch's end, which a look every half second could fall between."""
    database = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"))
    fraction = "SELECT progress_fraction FROM jobs WHERE id = ?"
    try:
        while not read.is_set() and not any(map(_inside_an_epoch, told)):
            if 0 < database.execute(fraction, (job_id,)).fetchone()[0] < 1:
                worker.send_signal(signal.SIGSTOP)
                try:
                    if 0 < database.execute(fraction, (job_id,)).fetchone()[0] < 1:  # no beat came in between
                        wait_for(lambda: any(map(_inside_an_epoch, told)), timeout=60,
                                 what="the stream to tell the progress inside an epoch")
                finally:
                    worker.send_signal(signal.SIGCONT)
            time.sleep(0.01)  # how often to look, not a wait for something to happen
    finally:
        database.close()


@pytest.mark.slow  # a worker process trains the job
def test_events_stream_progress_each_epoch_and_the_final_status(client: TestClient, processes: Processes,
                                                                settings: Settings) -> None:
    job_id = client.post("/jobs", json=JOB).json()["id"]
    worker = processes.worker()
    events: list[dict] = []
    read = threading.Event()
    holder = threading.Thread(target=_hold_inside_an_epoch, args=(settings, job_id, worker, events, read))
    holder.start()
    try:
        _read_events(client, job_id, events=events)
    finally:
        read.set()
        holder.join(timeout=120)
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "status" and events[-1]["data"]["status"] == "succeeded"
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["data"]["epoch"] for e in epochs] == [1, 2, 3]
    assert [e["id"] for e in epochs] == ["epoch-1", "epoch-2", "epoch-3"]
    assert "progress" in kinds and any(map(_inside_an_epoch, events))

    resumed = _read_events(client, job_id, {"Last-Event-ID": "epoch-2"})
    assert [e["event"] for e in resumed] == ["epoch", "status"] and resumed[0]["data"]["epoch"] == 3


def test_events_of_an_unknown_job_are_404(client: TestClient) -> None:
    assert client.get("/jobs/424242/events").status_code == 404
