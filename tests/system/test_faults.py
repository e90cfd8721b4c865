"""Crashes, kills and crash loops with real processes and real files (issue 6, items 3, 4 and orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from mnistlab.tables import Job, WorkerRecord
from models_store import checkpoints
from tests.helpers.servers import REPO, Processes, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

WRITER = """
import pathlib, sys, torch
from models_store.checkpoints import save_atomic
from models_store.checkpoints import load
path = pathlib.Path(sys.argv[1])
generation = load(path)["generation"] if path.exists() else 0  # carry on from what is on disk, as a resumed job does
while True:
    generation += 1
    payload = {"generation": generation, "weights": torch.full((4_000_000,), float(generation))}  # 16 MB
    print("writing", generation, flush=True)  # the test kills us as soon as it reads this: inside the write
    save_atomic(payload, path)
    print("written", generation, flush=True)
"""


def test_sigkill_during_checkpoint_writes_always_leaves_a_loadable_file(tmp_path: Path, processes: Processes,
                                                                         settings) -> None:  # type: ignore[no-untyped-def]
    checkpoint_dir = tmp_path / "checkpoints"
    path = checkpoint_dir / "job-1" / "last.pt"
    last_seen = 0
    for _ in range(20):
        fresh = not path.exists()
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        lines = [writer.stdout.readline().split()]
        if fresh:  # the very first run: let one write complete, so that there is an old file
            lines += [writer.stdout.readline().split(), writer.stdout.readline().split()]
        assert lines[-1][0] == "writing", lines
        writing = int(lines[-1][1])
        writer.send_signal(signal.SIGKILL)  # inside save_atomic, between "writing N" and "written N"
        assert writer.wait() == -signal.SIGKILL
        rest = writer.stdout.read().split()
        writer.stdout.close()
        assert rest in ([], ["written", str(writing)]), rest  # it got no further than this one write
        payload = checkpoints.load(path)  # old or new, never half
        generation = payload["generation"]
        assert torch.equal(payload["weights"], torch.full((4_000_000,), float(generation)))
        assert generation in (writing - 1, writing) and generation >= last_seen  # never older than before
        last_seen = generation
    leftovers = sorted(path.parent.glob(f".*{checkpoints.TEMP_SUFFIX}"))
    assert leftovers, "no kill landed while a temp file was being written"
    for temp in leftovers:  # what a worker starting a heartbeat timeout later finds
        os.utime(temp, (0, 0))
    worker = processes.worker("--burst", settings=settings.model_copy(update={"checkpoints": checkpoint_dir}))
    assert worker.wait(timeout=60) == 0
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]


def test_a_job_that_kills_its_worker_every_time_fails_after_max_attempts(client: TestClient, processes: Processes,
                                                                          settings) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 50,
                                        "batch_size": 64, "seed": 0, "device": "cpu"}).json()["id"]
    for attempt in range(1, settings.max_attempts + 1):
        worker = processes.worker()
        wait_for(lambda: (j := client.get(f"/jobs/{job_id}").json())["status"] == "running" and j["attempts"] == attempt,
                 timeout=60, what=f"attempt {attempt}")
        worker.send_signal(signal.SIGKILL)  # what the kernel's OOM killer does
        worker.wait()
    processes.worker("--burst")
    job = wait_for(lambda: (j := client.get(f"/jobs/{job_id}").json())["status"] == "failed" and j, timeout=60,
                   what="the job to give up")
    assert job["attempts"] == 3
    assert "stopped responding 3 times" in job["error"] and "MNISTLAB_MAX_ATTEMPTS=3" in job["error"]


CNN_JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "batch_size": 64, "seed": 5,
           "device": "cpu"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_pids(sessions) -> list[int]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(WorkerRecord.pid)))


def test_workers_of_a_killed_server_hand_back_and_exit(processes: Processes, settings, sessions) -> None:  # type: ignore[no-untyped-def]
    server = start_server(processes, settings)
    [pid] = wait_for(lambda: _worker_pids(sessions), timeout=60, what="the server's worker to register")
    job_id = server.http.post("/jobs", json={**CNN_JOB, "epochs": 50}).json()["id"]
    wait_for(lambda: server.http.get(f"/jobs/{job_id}").json()["progress"]["fraction"] > 0, timeout=60,
             what="the job to train")
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    wait_for(lambda: not _alive(pid), timeout=20, what=f"orphaned worker {pid} to exit")
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        # Handed back, not left for the heartbeat timeout: queued at once, and the attempt not counted.
        assert (job.status.value, job.attempts, job.worker_id) == ("queued", 0, None)


def test_a_whole_service_sigkilled_mid_job_resumes_exactly(processes: Processes, settings, sessions) -> None:  # type: ignore[no-untyped-def]
    server = start_server(processes, settings)
    port = int(server.url.rsplit(":", 1)[1])
    job_id = server.http.post("/jobs", json=CNN_JOB).json()["id"]
    wait_for(lambda: (p := server.http.get(f"/jobs/{job_id}").json()["progress"])["epoch"] >= 1 and p["fraction"] > 0.4,
             timeout=120, what="the second epoch to be under way")
    [worker_pid] = _worker_pids(sessions)
    server.process.send_signal(signal.SIGKILL)  # the machine's power cord: server and worker, nobody cleans up
    os.kill(worker_pid, signal.SIGKILL)
    server.process.wait()
    wait_for(lambda: not _alive(worker_pid), timeout=10, what="the worker to die")
    with sessions() as session:
        assert session.get(Job, job_id).status.value == "running"  # type: ignore[union-attr]  # as the crash left it

    restarted = start_server(processes, settings, port=port)
    job = wait_for(lambda: (j := restarted.http.get(f"/jobs/{job_id}").json())["status"] == "succeeded" and j,
                   timeout=180, what="the job to finish after the restart", interval=0.5)
    assert job["attempts"] == 2  # requeued once its heartbeat went stale, then resumed
    assert [m["epoch"] for m in restarted.http.get(f"/jobs/{job_id}/metrics").json()] == [1, 2, 3]
    clean_id = restarted.http.post("/jobs", json=CNN_JOB).json()["id"]  # the same job, never interrupted
    wait_for(lambda: restarted.http.get(f"/jobs/{clean_id}").json()["status"] == "succeeded", timeout=180,
             what="the uninterrupted job", interval=0.5)
    resumed = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job_id, "last"))["model"]
    clean = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, clean_id, "last"))["model"]
    for a, b in zip(resumed.values(), clean.values(), strict=True):
        assert torch.equal(a, b)


def test_a_worker_whose_server_died_before_it_started_exits(processes: Processes) -> None:
    # Its real parent is this test, not the (long gone) server it names: it must not stay to train unsupervised.
    worker = processes.worker("--parent-pid", "999999999")
    assert worker.wait(timeout=60) == 0
