"""Fixtures: settings in a temp folder, a database of the test's own (SQLite, or PostgreSQL for `both_databases`),
the app in-process, real worker and server processes, and the data sets for tests marked `datasets`.

A test that trains or reads images says so with `@pytest.mark.datasets`; the others get settings whose
data folder is empty, so they load no data set at all (and fail loudly if they try).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from mnistlab import schema
from mnistlab.datasets import import_all
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from service.app import create_app
from tests.helpers.data import SHARED_DATASETS, write_small_copy
from tests.helpers.ports import free_port
from tests.helpers.postgres import PostgresServer, create_database
from tests.helpers.servers import LiveServer, Processes, make_settings, start_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Runs on PostgreSQL are marked `postgres`, so `-m "not postgres"` leaves them out."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database") == "postgresql":
            item.add_marker(pytest.mark.postgres)


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
    write_small_copy(data_dir, target)
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


def _migrated(url: str) -> None:
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database at the head revision, made once: tests start from a copy of it instead of running every
    migration again (tests/core/test_schema.py migrates empty databases)."""
    path = tmp_path_factory.mktemp("migrated") / "mnistlab.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_admin_url: str) -> str:
    """The name of a PostgreSQL database at the head revision, the template of each test's database."""
    url = create_database(postgres_admin_url)
    _migrated(url)
    return make_url(url).database  # type: ignore[return-value]


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's own database URL, already at the head revision: a SQLite file by default, or a PostgreSQL
    database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return create_database(request.getfixturevalue("postgres_admin_url"),
                               copy_of=request.getfixturevalue("migrated_postgres"))
    (tmp_path / "home").mkdir(exist_ok=True)
    path = tmp_path / "home" / "mnistlab.db"
    with closing(sqlite3.connect(request.getfixturevalue("migrated_sqlite"))) as source, \
            closing(sqlite3.connect(path)) as copy:
        source.backup(copy)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> Settings:
    """Settings in a temp folder; the small data sets only for tests marked `datasets`."""
    if request.node.get_closest_marker("datasets"):
        data = request.getfixturevalue("small_data_dir")
    else:
        data = tmp_path / "no-datasets"
        data.mkdir()
    return make_settings(tmp_path / "home", data, database_url=database)


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


@pytest.fixture
def processes(settings: Settings) -> Iterator[Processes]:
    running = Processes(settings)
    yield running
    running.stop_all()


@pytest.fixture
def live_server(processes: Processes, settings: Settings) -> LiveServer:
    return start_server(processes, settings)
