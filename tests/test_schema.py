"""The schema is made and migrated at start-up by Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from mnistlab import schema, tables
from mnistlab.db import Base, make_engine
from tests.conftest import REPO, both_databases


@both_databases
def test_a_new_database_gets_exactly_the_tables_the_code_expects(database: str) -> None:
    engine = make_engine(database)
    try:
        schema.upgrade(engine)
        schema.upgrade(engine)  # a second start changes nothing
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            assert differences == []
            assert schema.current_revision(connection) == schema.head_revision()
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_adopted_with_its_jobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        Base.metadata.create_all(engine)  # how mnistlab made its schema before Alembic
        with engine.begin() as connection:
            connection.execute(insert(tables.Job).values(
                status="succeeded", dataset="mnist", model="linear", optimizer="sgd", lr=0.1, momentum=0.0,
                epochs=1, batch_size=64, device="cpu", seed=1, attempts=1, cancel_requested=False,
                progress_epoch=1, progress_fraction=0.0))
        schema.upgrade(engine)
        with engine.connect() as connection:
            assert schema.current_revision(connection) == schema.head_revision()
            assert connection.scalar(select(func.count()).select_from(tables.Job)) == 1
    finally:
        engine.dispose()


@both_databases
def test_processes_starting_together_migrate_once_without_errors(database: str) -> None:
    code = "import sys; from mnistlab import schema; from mnistlab.db import make_engine; " \
           "schema.upgrade(make_engine(sys.argv[1]))"
    starting = [subprocess.Popen([sys.executable, "-c", code, database], cwd=REPO, stderr=subprocess.PIPE)
                for _ in range(4)]
    errors = [process.communicate(timeout=120)[1].decode() for process in starting]
    assert [process.returncode for process in starting] == [0, 0, 0, 0], errors
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            assert {"jobs", "epoch_metrics", "workers", "default_models"} <= set(inspect(connection).get_table_names())
            assert schema.current_revision(connection) == schema.head_revision()
    finally:
        engine.dispose()
