"""Crashes, kills and crash loops with real processes and real files (issue 6, items 3, 4 and orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from mnistlab.tables import Job, WorkerRecord
from models_store import checkpoints
from service.app import create_app
from tests.helpers.images import png
from tests.helpers.jobs import QUICK_JOB
from tests.helpers.servers import REPO, Processes, make_settings, start_server, wait_for, wait_for_a_fresh_beat

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

# One process imports torch once and forks a writer per line it reads (torch's import is seconds of CPU;
# each of the test's twenty kills needs a fresh process, not a fresh interpreter). A writer says its pid,
# then writes generation after generation; the test SIGKILLs it inside a write.
WRITERS = """
import os, pathlib, sys, torch
from models_store.checkpoints import save_atomic
from models_store.checkpoints import load
path = pathlib.Path(sys.argv[1])
for _ in sys.stdin:
    pid = os.fork()
    if pid:  # the parent says how its writer ended: the signal that killed it
        print("ended", os.waitpid(pid, 0)[1] & 0x7F, flush=True)
        continue
    generation = load(path)["generation"] if path.exists() else 0  # carry on from what is on disk, as a resumed job
    print("pid", os.getpid(), flush=True)
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
    writers = subprocess.Popen([sys.executable, "-c", WRITERS, str(path)], cwd=REPO, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert writers.stdin is not None and writers.stdout is not None
    try:
        for _ in range(20):
            fresh = not path.exists()
            writers.stdin.write("go\n")
            writers.stdin.flush()
            tag, pid = writers.stdout.readline().split()
            assert tag == "pid"
            lines = [writers.stdout.readline().split()]
            if fresh:  # the very first run: let one write complete, so that there is an old file
                lines += [writers.stdout.readline().split(), writers.stdout.readline().split()]
            assert lines[-1][0] == "writing", lines
            writing = int(lines[-1][1])
            os.kill(int(pid), signal.SIGKILL)  # inside save_atomic, between "writing N" and "written N"
            rest = []  # what it printed before the kill landed, then how it ended
            while (line := writers.stdout.readline().split())[0] != "ended":
                rest.append(line)
            assert line == ["ended", str(int(signal.SIGKILL))], line
            assert rest in ([], [["written", str(writing)]]), rest  # it got no further than this one write
            payload = checkpoints.load(path)  # old or new, never half
            generation = payload["generation"]
            assert torch.equal(payload["weights"], torch.full((4_000_000,), float(generation)))
            assert generation in (writing - 1, writing) and generation >= last_seen  # never older than before
            last_seen = generation
    finally:
        writers.kill()
        writers.wait()
        writers.stdin.close()
        writers.stdout.close()
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


CNN_JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 4, "batch_size": 64, "seed": 5,
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
    # Cut in the second or third of four epochs, so that a whole epoch at least is left to resume.
    wait_for_a_fresh_beat(lambda: server.http.get(f"/jobs/{job_id}").json()["progress"],
                          lambda epoch, _inside: 1 <= epoch <= 2, what="the second or third epoch to be under way")
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
    assert [m["epoch"] for m in restarted.http.get(f"/jobs/{job_id}/metrics").json()] == [1, 2, 3, 4]
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


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs: a checkpoint folder that can fill up."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_full_checkpoint_folder_fails_the_job_by_name_and_keeps_its_last_checkpoint(
        small_disk: Path, processes: Processes, settings) -> None:  # type: ignore[no-untyped-def]
    on_small_disk = make_settings(settings.home, settings.datasets_dir, database_url=settings.db_url,
                                  checkpoints=small_disk)
    with TestClient(create_app(on_small_disk)) as client:
        job_id = client.post("/jobs", json={"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 4,
                                            "batch_size": 64, "seed": 2}).json()["id"]
        worker = processes.worker(settings=on_small_disk)
        wait_for(lambda: len(client.get(f"/jobs/{job_id}/metrics").json()) == 1, timeout=120, what="epoch 1")
        free = os.statvfs(small_disk)
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 4096))  # 4 KB left: no room for epoch 2
        failed = wait_for(lambda: (job := client.get(f"/jobs/{job_id}").json())["status"] == "failed" and job,
                          timeout=120, what="the job to fail")
        assert f"the checkpoint folder {small_disk} is full (No space left on device) at epoch 2" in failed["error"]
        assert [m["epoch"] for m in client.get(f"/jobs/{job_id}/metrics").json()] == [1]
        for which in ("last", "best"):  # the earlier checkpoint as it was, and nothing half-written beside it
            assert checkpoints.load(checkpoints.checkpoint_path(small_disk, job_id, which))["epoch"] == 1
        assert sorted(path.name for path in small_disk.rglob("*") if path.is_file()) == sorted(
            ["filler", *(checkpoints.checkpoint_path(small_disk, job_id, w).name for w in ("best", "last"))])
        # The API goes on answering, and the worker goes on working once there is room again.
        assert client.get("/health").status_code == 200 and client.get("/jobs").status_code == 200
        blank = png(np.zeros((28, 28), dtype=np.uint8))  # its model is served from the intact checkpoint
        predicted = client.post(f"/predict?job_id={job_id}", content=blank, headers={"Content-Type": "image/png"})
        assert predicted.status_code == 200 and predicted.json()["model"]["epoch"] == 1
        assert worker.poll() is None
        filler.unlink()
        again = client.post("/jobs", json=QUICK_JOB).json()["id"]
        wait_for(lambda: client.get(f"/jobs/{again}").json()["status"] == "succeeded", timeout=120,
                 what="a job after space was freed")
