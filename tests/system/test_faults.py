"""Crashes, kills and crash loops with real processes and real files (issue 6, items 3, 4 and orphans)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from mnistlab.tables import WorkerRecord
from models_store import checkpoints
from tests.helpers.servers import REPO, Processes, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

WRITER = """
import pathlib, sys, torch
from models_store.checkpoints import save_atomic
path, generation = sys.argv[1], 0
while True:
    generation += 1
    # ~4 MB per write, so that a kill often lands in the middle of one.
    save_atomic({"generation": generation, "weights": torch.full((1_000_000,), float(generation))}, pathlib.Path(path))
    print(generation, flush=True)
"""


def test_sigkill_during_checkpoint_writes_always_leaves_a_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "job-1" / "last.pt"
    rng = random.Random(0)
    last_seen = 0
    for _ in range(20):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        writer.stdout.readline()  # at least one complete write
        time.sleep(rng.uniform(0.0, 0.15))  # a random moment, usually mid-write
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        payload = checkpoints.load(path)  # old or new, never half
        generation = payload["generation"]
        assert torch.equal(payload["weights"], torch.full((1_000_000,), float(generation)))
        assert generation >= 1
        last_seen = max(last_seen, generation)
    leftovers = list(path.parent.glob(f".*{checkpoints.TEMP_SUFFIX}"))
    for temp in leftovers:  # what a worker starting an hour later would find
        os.utime(temp, (0, 0))
    assert checkpoints.remove_temp_files(tmp_path, older_than=30) == len(leftovers)
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


def test_workers_of_a_killed_server_hand_back_and_exit(processes: Processes, settings, sessions) -> None:  # type: ignore[no-untyped-def]
    server = start_server(processes, settings)
    def worker_pids() -> list[int]:
        with sessions() as session:
            return list(session.scalars(select(WorkerRecord.pid)))

    [pid] = wait_for(worker_pids, timeout=60, what="the server's worker to register")
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=20, what=f"orphaned worker {pid} to exit")


def test_a_worker_whose_server_died_before_it_started_exits(processes: Processes) -> None:
    # Its real parent is this test, not the (long gone) server it names: it must not stay to train unsupervised.
    worker = processes.worker("--parent-pid", "999999999")
    assert worker.wait(timeout=60) == 0
