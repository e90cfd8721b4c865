"""Many hosts: the API and PostgreSQL on one, a worker on each of two others (network namespaces).

The layout of docs/deploy.md's multi-host section, with the checkpoint folder shared between the
hosts as an NFS mount would share it. One worker host is cut off the network in the middle of a job:
the job is requeued once its heartbeat is stale (by the API's sweep or the other worker) and the other
worker finishes it from the last checkpoint;
the cut-off worker waits, and rejoins when its link is back.
"""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

from mnistlab.settings import Settings
from models_store import checkpoints
from tests.helpers.netns import Lab
from tests.helpers.postgres import PostgresServer, create_database
from tests.helpers.servers import Processes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.netns, pytest.mark.postgres]

API_KEY = "multi-host-test-key"
JOBS, EPOCHS = 5, 3  # enough for each worker to finish one and worker 1 to be cut in its second


@pytest.fixture
def lab() -> Iterator[Lab]:
    network = Lab()
    yield network
    network.close()


def succeeded_jobs(log: Path) -> set[int]:
    return {line["job_id"] for line in map(json.loads, log.read_text().splitlines())
            if line.get("message") == "succeeded"}


def checkpoint_files(checkpoint_dir: Path, job_id: int) -> dict[str, str]:
    """Each file in the job's checkpoint folder, with a digest of its bytes."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((checkpoint_dir / f"job-{job_id}").iterdir())}


def cut_seed(api: httpx.Client, job_id: int) -> int:
    return api.get(f"/jobs/{job_id}").json()["seed"]


def test_two_worker_hosts_share_the_jobs_and_one_cut_off_mid_job_loses_nothing(
        lab: Lab, processes: Processes, small_data_dir: Path, tmp_path: Path) -> None:
    hub, host1, host2 = lab.namespace("api"), lab.namespace("w1"), lab.namespace("w2")
    laptop, link1, link2 = lab.link(hub, None), lab.link(hub, host1), lab.link(hub, host2)
    postgres = PostgresServer(port=5432, listen=("*",), trusted_networks=(lab.network,),
                              run_in=lab.run_in(hub)).start()
    processes.cleanups.append(postgres.stop)
    database = create_database(postgres.admin_url(laptop.hub_address)).rsplit("/", 1)[1]

    def settings_on(host_address: str, **extra: object) -> Settings:
        # One checkpoint folder for all three hosts: the shared mount of the multi-host layout.
        return Settings(home=tmp_path / "shared", data_dir=small_data_dir, download=False, heartbeat_timeout=4.0,
                        poll_interval=0.1, log_json=True,
                        database_url=f"postgresql+psycopg://postgres@{host_address}:5432/{database}", **extra)

    processes.start("serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "0",
                    settings=settings_on("127.0.0.1"), run_in=lab.run_in(hub), env={"MNISTLAB_API_KEY": API_KEY})
    logs = tmp_path / "worker1.log", tmp_path / "worker2.log"
    worker1 = processes.worker(settings=settings_on(link1.hub_address), log=logs[0], run_in=lab.run_in(host1))
    worker2 = processes.worker(settings=settings_on(link2.hub_address), log=logs[1], run_in=lab.run_in(host2))
    api = httpx.Client(base_url=f"http://{laptop.hub_address}:8000", timeout=30,
                       headers={"Authorization": f"Bearer {API_KEY}"})
    processes.cleanups.append(api.close)

    def answering() -> bool:
        try:
            return api.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answering, timeout=60, what="the API on the hub host")
    # The API accepts a cpu job once a worker has announced that device.
    job = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": EPOCHS, "batch_size": 128, "device": "cpu"}
    wait_for(lambda: api.post("/jobs", json={**job, "seed": 0}).status_code == 201, timeout=60, what="a live worker")
    for seed in range(1, JOBS):
        assert api.post("/jobs", json={**job, "seed": seed}).status_code == 201

    worker1_prefix = f"{socket.gethostname()}-{worker1.pid}-"
    seen_on_worker1: set[int] = set()
    progress_seen: dict[int, dict] = {}

    def worker1_mid_job_after_finishing_one() -> int | None:
        running = api.get("/jobs", params={"status": "running", "limit": 50}).json()["jobs"]
        current = [j for j in running if (j["worker_id"] or "").startswith(worker1_prefix)]
        finished = {j["id"] for j in api.get("/jobs", params={"status": "succeeded", "limit": 50}).json()["jobs"]}
        seen_on_worker1.update(j["id"] for j in current)
        for j in current:
            # Only a beat seen as it lands counts: one read later may be a beat interval (1 s) old, more than
            # the job has left on a fast machine.
            fresh = j["id"] in progress_seen and j["progress"] != progress_seen[j["id"]]
            progress_seen[j["id"]] = j["progress"]
            if fresh and seen_on_worker1 & finished and 1 <= j["progress"]["epoch"] <= EPOCHS - 2:
                return j["id"]
        return None

    cut_job = wait_for(worker1_mid_job_after_finishing_one, timeout=120, interval=0.005,
                       what="worker 1 mid-way through its 2nd job")
    link1.set("down")  # host 1 is cut off: it can reach neither PostgreSQL nor the API
    # ... and frozen at that very moment (as a VM paused, a process swapped out): it cannot notice the cut
    # before the other host takes over, so only its fence stands between it and the shared checkpoint folder.
    worker1.send_signal(signal.SIGSTOP)
    processes.cleanups.insert(0, lambda: worker1.poll() is None and worker1.send_signal(signal.SIGCONT))

    def all_done() -> bool:
        return api.get("/jobs", params={"status": "succeeded"}).json()["total"] == JOBS

    wait_for(all_done, timeout=180, what=f"all {JOBS} jobs to succeed", interval=0.5)
    jobs = {j["id"]: j for j in api.get("/jobs", params={"limit": 50}).json()["jobs"]}
    assert len(jobs) == JOBS
    for job_id, detail in jobs.items():  # each ran once: exactly its epochs, no epoch twice
        assert [m["epoch"] for m in api.get(f"/jobs/{job_id}/metrics").json()] == list(range(1, EPOCHS + 1))
        assert detail["attempts"] == (2 if job_id == cut_job else 1), detail
    rows_after_takeover = api.get(f"/jobs/{cut_job}/metrics").json()
    files_after_takeover = checkpoint_files(tmp_path / "shared" / "checkpoints", cut_job)
    assert set(files_after_takeover) == {"best.pt", "last.pt"}  # no temp file left behind by either writer

    # Worker 1 wakes up, still cut off, mid-epoch of a job another host has finished: it must fence itself
    # at once (its last beat is long past half the lease) and write nothing.
    worker1.send_signal(signal.SIGCONT)
    woken = time.monotonic()

    def worker1_lines() -> list[dict]:
        return [json.loads(line) for line in logs[0].read_text().splitlines()]

    wait_for(lambda: any(line.get("job_id") == cut_job and "giving the job up" in line["message"]
                         for line in worker1_lines()), timeout=30, what="worker 1 to fence itself off the cut job")
    assert time.monotonic() - woken < 4.0  # within the heartbeat timeout, not whenever it finishes its epoch
    wait_for(lambda: any(line.get("job_id") == cut_job and "given up" in line["message"] for line in worker1_lines()),
             timeout=30, what="worker 1 to let the cut job go")
    fence = next(i for i, line in enumerate(worker1_lines())
                 if line.get("job_id") == cut_job and "giving the job up" in line["message"])
    assert not [line for line in worker1_lines()[fence:]
                if line.get("job_id") == cut_job and line["message"].startswith("epoch ")]  # no epoch after it
    assert checkpoint_files(tmp_path / "shared" / "checkpoints", cut_job) == files_after_takeover
    assert worker1.poll() is None, "the cut-off worker should wait for the database, not crash"
    link1.set("up")  # the host is back: its worker rejoins without a restart
    wait_for(lambda: "the database is reachable again" in logs[0].read_text(), timeout=60,
             what="worker 1 to reach the database again", interval=0.5)
    # The same job never interrupted (same seed), run by whichever worker is free: the cut job's weights,
    # resumed on another host from the shared checkpoint, must be these exactly.
    clean_job = api.post("/jobs", json={**job, "seed": cut_seed(api, cut_job)}).json()["id"]
    wait_for(lambda: api.get(f"/jobs/{clean_job}").json()["status"] == "succeeded", timeout=120,
             what="the uninterrupted copy of the cut job", interval=0.5)
    for worker in (worker1, worker2):  # SIGTERM: both hand back and exit; the API stays up to be asked
        worker.terminate()
        worker.wait(timeout=30)
    # Worker 1, back on the network, never wrote to the job it had given up: rows and files are as worker 2 left them.
    assert api.get(f"/jobs/{cut_job}/metrics").json() == rows_after_takeover
    assert checkpoint_files(tmp_path / "shared" / "checkpoints", cut_job) == files_after_takeover
    processes.stop_all()
    cut_weights = checkpoints.load(tmp_path / "shared" / "checkpoints" / f"job-{cut_job}" / "last.pt")["model"]
    clean_weights = checkpoints.load(tmp_path / "shared" / "checkpoints" / f"job-{clean_job}" / "last.pt")["model"]
    for a, b in zip(cut_weights.values(), clean_weights.values(), strict=True):
        assert torch.equal(a, b)
    assert (worker1.returncode, worker2.returncode) == (0, 0)

    by_worker1, by_worker2 = succeeded_jobs(logs[0]), succeeded_jobs(logs[1])
    assert by_worker1 and by_worker2 and not by_worker1 & by_worker2
    assert by_worker1 | by_worker2 == set(jobs) | {clean_job}
    assert cut_job in by_worker2
    worker1_lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any(line.get("job_id") == cut_job and ("giving the job up" in line["message"] or
                                                  "lost the database" in line["message"]) for line in worker1_lines)
