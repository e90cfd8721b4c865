"""Real worker processes against a real SQLite database: kills, hand-backs, cancels, exactly-once."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from mnistlab.tables import EpochMetric, Job
from models_store import checkpoints
from tests.helpers.postgres import both_databases
from tests.helpers.servers import (
    REPO,
    Processes,
    claims_in,
    make_settings,
    settings_env,
    wait_for,
    wait_for_a_fresh_beat,
    wait_until_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 4, "batch_size": 64, "seed": 11,
       "device": "cpu"}


def _job(client: TestClient, job_id: int) -> dict:
    return client.get(f"/jobs/{job_id}").json()


def _wait_status(client: TestClient, job_id: int, status: str, timeout: float = 120) -> dict:
    return wait_for(lambda: (job := _job(client, job_id))["status"] == status and job, timeout=timeout,
                    what=f"job {job_id} to be {status}")  # type: ignore[return-value]


def _weights(settings, job_id: int) -> dict:  # type: ignore[no-untyped-def]
    return checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last"))["model"]


@pytest.fixture(scope="module")
def uninterrupted() -> dict[tuple, dict]:
    """The final weights of JOB run by a worker without interruption, by what the test changed in JOB: trained by
    the first test that needs them and reused by the rest (the same job gives the same weights on either database)."""
    return {}


def _assert_same_as_uninterrupted(uninterrupted: dict[tuple, dict], client: TestClient, settings, job_id: int,  # type: ignore[no-untyped-def]
                                  **changes: int) -> None:
    """The job's final weights equal those of the same job never interrupted (run by a worker still polling)."""
    key = tuple(sorted(changes.items()))
    if key not in uninterrupted:
        clean_job = client.post("/jobs", json={**JOB, **changes}).json()["id"]
        _wait_status(client, clean_job, "succeeded")
        uninterrupted[key] = _weights(settings, clean_job)
    for a, b in zip(_weights(settings, job_id).values(), uninterrupted[key].values(), strict=True):
        assert torch.equal(a, b)


def _saved_position(settings, job_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(epoch, batch within the next epoch) of the job's last checkpoint: where a resumed job starts."""
    saved = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last"))
    return saved["epoch"], saved["step_in_epoch"]


def _resumed_at(log: Path, job_id: int) -> list[tuple[int, int]]:
    return [(int(epoch), int(batch)) for epoch, batch in
            re.findall(rf"resumes after epoch (\d+), batch (\d+) \[job_id={job_id} ", log.read_text())]


def _epochs_trained(logs: list[Path], job_id: int) -> int:
    """Epochs trained to their end by any of these workers (each logs one line per epoch)."""
    return sum(len(re.findall(rf"epoch \d+/\d+: loss .*\[job_id={job_id} ", log.read_text())) for log in logs)


@both_databases
def test_a_worker_killed_mid_job_is_replaced_and_the_result_is_bit_identical(
        client: TestClient, processes: Processes, settings, sessions, tmp_path: Path, uninterrupted) -> None:  # type: ignore[no-untyped-def]
    killed_job = client.post("/jobs", json={**JOB, "epochs": 4}).json()["id"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = processes.worker(log=logs[0])
    wait_for(lambda: _job(client, killed_job)["progress"]["epoch"] >= 2 and _job(client, killed_job)["progress"]["fraction"] > 0.2,
             timeout=120, what="the third epoch to be under way")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert _job(client, killed_job)["status"] == "running"  # nobody knows yet that its worker died
    saved = _saved_position(settings, killed_job)
    processes.worker(log=logs[1])
    done = _wait_status(client, killed_job, "succeeded")
    assert done["attempts"] == 2
    # A resume, not a restart (both end with the same weights): the second worker starts where the first saved,
    # and the two trained at most one epoch more than the job has.
    assert _resumed_at(logs[1], killed_job) == [saved] and saved[0] >= 2
    assert _epochs_trained(logs, killed_job) <= 4 + 1
    with sessions.begin() as session:
        epochs = session.scalars(select(EpochMetric.epoch).where(EpochMetric.job_id == killed_job)).all()
    assert sorted(epochs) == [1, 2, 3, 4]
    _assert_same_as_uninterrupted(uninterrupted, client, settings, killed_job, epochs=4)


@both_databases
def test_sigterm_saves_mid_epoch_hands_back_and_the_resumed_job_is_bit_identical(
        client: TestClient, processes: Processes, settings, tmp_path: Path, uninterrupted) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json={**JOB, "epochs": 3, "batch_size": 16}).json()["id"]
    # Beats every 0.375 s, so one lands inside the batches of the second or third epoch.
    worker = processes.worker(settings=make_settings(settings.home, settings.datasets_dir,
                                                     database_url=settings.db_url, heartbeat_timeout=1.5))
    # Signalled between two batches of the second or third epoch, short of its last ones (60 ms here).
    wait_for_a_fresh_beat(lambda: _job(client, job_id)["progress"], lambda epoch, inside: epoch >= 1 and
                          0.02 < inside < 0.9, what="a fresh beat inside the second or third epoch")
    worker.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    handed_back = _job(client, job_id)
    assert handed_back["status"] == "queued" and handed_back["attempts"] == 0
    saved = _saved_position(settings, job_id)
    assert saved[0] in (1, 2) and saved[1] > 0  # saved at the batch it stopped at, mid-epoch
    processes.worker(log=tmp_path / "second.log")
    assert _wait_status(client, job_id, "succeeded")["attempts"] == 1
    assert _resumed_at(tmp_path / "second.log", job_id) == [saved]
    assert [m["epoch"] for m in client.get(f"/jobs/{job_id}/metrics").json()] == [1, 2, 3]
    _assert_same_as_uninterrupted(uninterrupted, client, settings, job_id, epochs=3, batch_size=16)


def test_a_worker_killed_after_its_checkpoint_and_before_its_row_loses_no_epoch(
        client: TestClient, processes: Processes, settings, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The files first, then the database: an epoch whose checkpoint landed but whose row did not is recorded
    when the job resumes, and is not trained again."""
    job_id = client.post("/jobs", json={**JOB, "epochs": 3}).json()["id"]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    # A long lease: a worker whose heartbeats do not get through for half of it stops writing (fenced off).
    patient = make_settings(settings.home, settings.datasets_dir, database_url=settings.db_url, heartbeat_timeout=120)
    first = processes.worker(log=logs[0], settings=patient)
    wait_for(lambda: _job(client, job_id)["ran_on"], timeout=120, what="the worker to start the job")
    # Take SQLite's write lock once the worker has written the job's running details: from here it can write
    # files but not rows, so the next epoch it finishes lands as a checkpoint without its row.
    lock = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        recorded = len(client.get(f"/jobs/{job_id}/metrics").json())  # none unless an epoch beat the lock
        unrecorded = recorded + 1
        last = checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last")
        wait_for(lambda: last.exists() and _saved_position(settings, job_id) == (unrecorded, 0), timeout=120,
                 what=f"epoch {unrecorded}'s checkpoint")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert [m["epoch"] for m in client.get(f"/jobs/{job_id}/metrics").json()] == list(range(1, unrecorded))
    processes.worker(log=logs[1])
    _wait_status(client, job_id, "succeeded")
    assert [m["epoch"] for m in client.get(f"/jobs/{job_id}/metrics").json()] == [1, 2, 3]
    assert _resumed_at(logs[1], job_id) == [(unrecorded, 0)]
    # Each epoch trained once: the ones after the unrecorded one by the second worker, and the unrecorded one's
    # line (written after its row) never by the first.
    assert _epochs_trained(logs[1:], job_id) == 3 - unrecorded
    assert _epochs_trained(logs, job_id) == 3 - 1


def test_the_first_sigterm_asks_to_stop_and_a_second_exits_at_once(settings) -> None:  # type: ignore[no-untyped-def]
    script = (
        "import signal, sys\n"
        "from workers.worker import Worker\n"
        "worker = Worker(Settings())\n"
        "worker.install_signal_handlers()\n"
        "signal.raise_signal(signal.SIGTERM)\n"
        "print('asked to stop:', worker.shutting_down.is_set(), flush=True)\n"
        "signal.raise_signal(signal.SIGTERM)\n"
        "print('still running after the second signal', flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", "from mnistlab.settings import Settings\n" + script],
                            env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout == "asked to stop: True\n"
    assert result.returncode == 128 + signal.SIGTERM


@both_databases
def test_cancel_stops_a_running_job_and_keeps_its_metrics(client: TestClient, processes: Processes) -> None:
    job_id = client.post("/jobs", json={**JOB, "epochs": 50}).json()["id"]
    processes.worker()
    wait_for(lambda: _job(client, job_id)["latest"] is not None, timeout=120, what="a first epoch")
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 200
    job = _wait_status(client, job_id, "cancelled", timeout=30)
    assert job["finished_at"] is not None and job["latest"]["epoch"] >= 1
    assert len(client.get(f"/jobs/{job_id}/metrics").json()) == job["latest"]["epoch"]


def test_a_missing_data_set_fails_the_job_with_the_import_hint(client: TestClient, processes: Processes,
                                                               settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json={**JOB, "epochs": 1}).json()["id"]
    empty = make_settings(settings.home, tmp_path / "no-data", database_url=settings.db_url)
    processes.worker("--burst", settings=empty).wait(timeout=60)
    job = _job(client, job_id)
    assert job["status"] == "failed" and "mnistlab datasets import" in job["error"]
    assert client.get("/health").status_code == 200


@both_databases
def test_two_workers_run_each_job_exactly_once(client: TestClient, processes: Processes, sessions,  # type: ignore[no-untyped-def]
                                               tmp_path) -> None:
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [processes.worker(log=log) for log in logs]
    wait_until_ready(logs)  # both are polling when the jobs arrive
    ids = [client.post("/jobs", json={**JOB, "model": "linear", "epochs": 2, "batch_size": 50, "seed": s}).json()["id"]
           for s in range(6)]
    wait_for(lambda: client.get("/jobs?status=succeeded").json()["total"] == 6, timeout=120, what="the 6 jobs")
    processes.stop_all()
    assert [worker.returncode for worker in workers] == [0, 0]
    claimed = [claims_in(log) for log in logs]
    assert claimed[0] and claimed[1], f"one worker claimed every job: {claimed}"
    assert sorted(claimed[0] + claimed[1]) == ids  # none claimed twice, none left out
    with sessions.begin() as session:
        rows = session.scalars(select(Job).where(Job.id.in_(ids))).all()
        metric_count = len(session.scalars(select(EpochMetric.id)).all())
    assert {job.status.value for job in rows} == {"succeeded"}
    assert all(job.attempts == 1 for job in rows)
    assert metric_count == 2 * len(ids)


def test_the_api_requeues_a_dead_workers_job_even_when_no_worker_is_free(
        client: TestClient, processes: Processes, settings) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json=JOB).json()["id"]
    worker = processes.worker()
    _wait_status(client, job_id, "running")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # No worker is left to sweep: the API notices within about one heartbeat timeout (3 s here).
    job = _wait_status(client, job_id, "queued", timeout=4 * settings.heartbeat_timeout)
    assert job["attempts"] == 1 and job["worker_id"] is None
