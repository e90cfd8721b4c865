"""Four workers on one SQLite file, and a restart of the whole service mid-run (issue 6, items 5 and 6)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mnistlab.tables import EpochMetric, Job
from tests.helpers.postgres import both_databases
from tests.helpers.servers import (
    Processes,
    claims_in,
    start_server,
    wait_for,
    wait_until_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

# Small batches: a job takes a few tenths of a second, so the four workers' jobs overlap.
SMALL = {"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 2, "batch_size": 50, "device": "cpu"}


@both_databases
def test_four_workers_forty_jobs_each_run_once_and_the_api_keeps_answering(
        client: TestClient, processes: Processes, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    logs = [tmp_path / f"worker-{n}.log" for n in range(4)]
    workers = [processes.worker(log=log) for log in logs]
    wait_until_ready(logs)  # all four are polling when the jobs arrive
    ids = [client.post("/jobs", json={**SMALL, "seed": seed}).json()["id"] for seed in range(40)]
    answers: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:  # a user watching the queue while it drains, up to 50 times a second
        while not stop.wait(0.02):
            answers.append(client.get("/jobs?limit=5").status_code)

    watcher = threading.Thread(target=keep_asking)
    watcher.start()
    try:
        wait_for(lambda: client.get("/jobs?status=succeeded").json()["total"] == 40, timeout=300,
                 what="the 40 jobs to succeed", interval=0.2)
    finally:
        stop.set()
        watcher.join()
    processes.stop_all()
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    with sessions() as session:
        jobs = session.scalars(select(Job).where(Job.id.in_(ids))).all()
        rows = dict(session.execute(select(EpochMetric.job_id, func.count()).group_by(EpochMetric.job_id)).all())
    assert [job.status.value for job in jobs] == ["succeeded"] * 40
    assert all(job.attempts == 1 for job in jobs)
    assert all(rows[job_id] == 2 for job_id in ids)
    assert len(answers) > 10 and set(answers) == {200}
    text = "".join(log.read_text() for log in logs)
    assert "locked" not in text and "Traceback" not in text and "ERROR" not in text
    claimed = [claims_in(log) for log in logs]
    assert all(claimed), f"a worker claimed nothing: {[len(c) for c in claimed]}"  # the claims really raced
    assert sorted(job_id for jobs_of_one in claimed for job_id in jobs_of_one) == sorted(ids)  # each exactly once
    assert sum(log.read_text().count(": succeeded") for log in logs) == 40


def test_restarting_the_whole_service_loses_and_duplicates_nothing(processes: Processes, settings, sessions) -> None:  # type: ignore[no-untyped-def]
    server = start_server(processes, settings, workers=2)
    port = int(server.url.rsplit(":", 1)[1])
    # Two running and two queued when the service dies.
    jobs = [{"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "batch_size": 128, "seed": seed,
             "device": "cpu"} for seed in range(4)]
    ids = [server.http.post("/jobs", json=job).json()["id"] for job in jobs]
    wait_for(lambda: server.http.get(f"/jobs/{ids[0]}").json()["progress"]["epoch"] >= 1, timeout=120,
             what="the first job's first epoch")
    server.process.send_signal(signal.SIGKILL)  # the harshest stop; its workers hand back and exit on their own
    server.process.wait()
    restarted = start_server(processes, settings, workers=2, port=port)

    def all_done() -> bool:
        try:
            listing = restarted.http.get("/jobs").json()["jobs"]
        except httpx.TransportError:
            return False
        return all(job["status"] == "succeeded" for job in listing)

    wait_for(all_done, timeout=300, what="every job to succeed after the restart", interval=0.5)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 4
        for job_id in ids:
            epochs = session.scalars(select(EpochMetric.epoch).where(EpochMetric.job_id == job_id)).all()
            assert sorted(epochs) == [1, 2, 3], job_id
