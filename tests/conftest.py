"""Shared fixtures: real data sets on disk, settings in a temp folder, real worker and server processes."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mnistlab.datasets import DATASETS, RAW_FILES, import_all, raw_dir
from mnistlab import schema
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from service.app import create_app
from tests.postgres import PostgresServer, create_database

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("MNISTLAB_TEST_DATASETS", REPO.parent / "shared" / "datasets"))
SMALL_SIZES = {"train": 6000, "t10k": 1000}

# Tests that touch the queue or the database run on both; the others on the SQLite default.
both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


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


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full MNIST and Fashion-MNIST, imported the way a user would."""
    target = tmp_path_factory.mktemp("datasets")
    import_all(SHARED_DATASETS, target)
    return target


@pytest.fixture(scope="session")
def small_data_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 6,000 training and 1,000 test images of each data set: real data, quick epochs."""
    target = tmp_path_factory.mktemp("small-datasets")
    for name in DATASETS:
        source, folder = raw_dir(data_dir, name), raw_dir(target, name)
        folder.mkdir(parents=True)
        for file_name in RAW_FILES:
            count = SMALL_SIZES[file_name.split("-")[0]]
            header_size, record = (16, 784) if "images" in file_name else (8, 1)
            raw = (source / file_name).read_bytes()
            header = bytearray(raw[:header_size])
            struct.pack_into(">I", header, 4, count)
            (folder / file_name).write_bytes(bytes(header) + raw[header_size:header_size + count * record])
    return target


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole run (or the one MNISTLAB_TEST_POSTGRES_URL names)."""
    if "MNISTLAB_TEST_POSTGRES_URL" in os.environ:
        yield os.environ["MNISTLAB_TEST_POSTGRES_URL"]
        return
    server = PostgresServer(port=free_port()).start()
    yield server.admin_url()
    server.stop()


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's database URL: a fresh SQLite file by default, or a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return create_database(request.getfixturevalue("postgres_admin_url"))
    (tmp_path / "home").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'home' / 'mnistlab.db'}"


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
    return env


@pytest.fixture
def settings(tmp_path: Path, small_data_dir: Path, database: str) -> Settings:
    return make_settings(tmp_path / "home", small_data_dir, database_url=database)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def sessions(settings: Settings):  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    engine = make_engine(settings.db_url)
    schema.upgrade(engine)
    yield make_sessions(engine)
    engine.dispose()


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


@pytest.fixture
def processes(settings: Settings) -> Iterator[Processes]:
    running = Processes(settings)
    yield running
    running.stop_all()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process, self.url = process, url
        self.http = httpx.Client(base_url=url, timeout=30)


def start_server(processes: Processes, settings: Settings, *, workers: int = 1, port: int | None = None) -> LiveServer:
    port = port or free_port()
    process = processes.start("serve", "--port", str(port), "--workers", str(workers), "--grace", "10",
                              settings=settings)
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


@pytest.fixture
def live_server(processes: Processes, settings: Settings) -> LiveServer:
    return start_server(processes, settings)
