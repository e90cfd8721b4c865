"""Real mnistlab processes for tests (settings in a temp folder, workers and `serve`, stopped after each test or
module), and the in-process app a module's tests can share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mnistlab.settings import Settings
from service.app import create_app
from tests.helpers.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05) -> object:
    """Poll until predicate() is truthy; fail naming what we waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_a_fresh_beat(read_progress: Callable[[], dict], where: Callable[[int, float], bool], *,
                          what: str, timeout: float = 120) -> None:
    """Return just after a job's heartbeat that satisfies where(epoch index, share of that epoch done).

    A progress read as it happens to be is up to a heartbeat interval old, most of an epoch on a fast machine;
    here it is read every 2 ms and only a beat seen as it changes counts, so it is a few ms old: what the test
    does next happens where the beat says the worker is."""
    seen: list[dict] = []

    def fresh_and_there() -> bool:
        progress = read_progress()
        changed = bool(seen) and progress != seen[-1]
        seen.append(progress)
        inside = progress["fraction"] * progress["epochs"] - progress["epoch"]  # the API's is of all epochs
        return changed and where(progress["epoch"], inside)

    wait_for(fresh_and_there, timeout=timeout, interval=0.002, what=what)


def make_settings(home: Path, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(home=home, data_dir=data_dir, download=False, heartbeat_timeout=3.0,
                                     poll_interval=0.1)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def settings_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNISTLAB_")}
    env.update(MNISTLAB_HOME=str(settings.home), MNISTLAB_DATA_DIR=str(settings.datasets_dir),
               MNISTLAB_DATABASE_URL=settings.db_url, MNISTLAB_DOWNLOAD=str(settings.download).lower(),
               MNISTLAB_HEARTBEAT_TIMEOUT=str(settings.heartbeat_timeout),
               MNISTLAB_POLL_INTERVAL=str(settings.poll_interval), MNISTLAB_MAX_ATTEMPTS=str(settings.max_attempts),
               MNISTLAB_CHECKPOINTS=str(settings.checkpoint_dir), MNISTLAB_LOG_JSON=str(settings.log_json).lower())
    if settings.key is not None:
        env["MNISTLAB_API_KEY"] = settings.key
    env.update(MNISTLAB_MAX_STREAMS=str(settings.max_streams), MNISTLAB_EVENTS_INTERVAL=str(settings.events_interval),
               MNISTLAB_EVENTS_FALLBACK_INTERVAL=str(settings.events_fallback_interval))
    return env


class Processes:
    """Starts real mnistlab processes and makes sure none outlives its test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[subprocess.Popen[bytes]] = []
        self.cleanups: list[Callable[[], object]] = []

    def start(self, *args: str, settings: Settings | None = None, log: Path | None = None,
              run_in: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        output = open(log, "ab") if log is not None else None  # noqa: SIM115 (closed below, after the process)
        process = subprocess.Popen([*(run_in or []), sys.executable, "-m", "mnistlab.cli", *args],
                                   env={**settings_env(settings or self.settings), **(env or {})}, cwd=REPO,
                                   stderr=output)
        if output is not None:
            self.cleanups.append(output.close)
        self.started.append(process)
        return process

    def worker(self, *args: str, settings: Settings | None = None, log: Path | None = None,
               run_in: list[str] | None = None) -> subprocess.Popen[bytes]:
        return self.start("worker", "--threads", "1", *args, settings=settings, log=log, run_in=run_in)

    def stop_all(self) -> None:
        for cleanup in self.cleanups:
            cleanup()
        for process in self.started:  # politely first: a server then stops its own workers
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class LiveServer:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process, self.url = process, url
        self.http = httpx.Client(base_url=url, timeout=30)


def start_server(processes: Processes, settings: Settings, *, workers: int = 1, port: int | None = None,
                 log: Path | None = None, api_workers: int = 1) -> LiveServer:
    port = port or free_port()
    process = processes.start("serve", "--port", str(port), "--workers", str(workers), "--grace", "10",
                              "--api-workers", str(api_workers), settings=settings, log=log)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, "the server exited"
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, timeout=60, what="the server's /health")
    server = LiveServer(process, url)
    processes.cleanups.append(server.http.close)
    return server


@contextmanager
def module_server(home: Path, data_dir: Path, *, workers: int = 1,
                  **overrides: object) -> Iterator[tuple[LiveServer, Settings]]:
    """One `serve` for the tests of a module that only read from it or add their own jobs (each start is
    seconds of CPU)."""
    settings = make_settings(home, data_dir, **overrides)
    running = Processes(settings)
    try:
        yield start_server(running, settings, workers=workers), settings
    finally:
        running.stop_all()


@contextmanager
def module_app(home: Path, data_dir: Path, **overrides: object) -> Iterator[tuple[TestClient, Settings]]:
    """The in-process app for the tests of a module that only read from it or add their own jobs (each app
    migrates a fresh database and loads its data sets and models again)."""
    settings = make_settings(home, data_dir, **overrides)
    with TestClient(create_app(settings)) as client:
        yield client, settings


CLAIMED = re.compile(r"claimed \(attempt \d+.*\[job_id=(\d+) ")


def claims_in(log: Path) -> list[int]:
    """The job ids a worker claimed, in order, read from its text log ("claimed (attempt N, ...) [job_id=J ...]")."""
    return [int(job_id) for job_id in CLAIMED.findall(log.read_text())]


def wait_until_ready(logs: list[Path], *, timeout: float = 60) -> None:
    """Until every worker logged that it is ready: jobs posted then are raced for by all of them."""
    wait_for(lambda: all(log.exists() and "worker ready" in log.read_text() for log in logs), timeout=timeout,
             what=f"{len(logs)} workers to be ready")
