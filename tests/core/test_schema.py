"""The schema is made and migrated at start-up by Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
)

from mnistlab import schema, tables
from mnistlab.db import Base, make_engine, make_sessions
from tests.helpers.postgres import both_databases, create_database
from tests.helpers.servers import REPO


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not the migrated copy other tests get): these tests migrate it."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return create_database(request.getfixturevalue("postgres_admin_url"))
    return f"sqlite:///{tmp_path / 'mnistlab.db'}"


@both_databases
def test_a_new_database_gets_exactly_the_tables_the_code_expects(database: str) -> None:
    engine = make_engine(database)
    try:
        schema.upgrade(engine)
        schema.upgrade(engine)  # a second start changes nothing
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": schema.VERSION_TABLE})
            differences = compare_metadata(context, Base.metadata)
            assert differences == []
            assert schema.current_revision(connection) == schema.head_revision()
    finally:
        engine.dispose()


def _migrate_to(engine: Engine, revision: str) -> None:
    config = schema.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _insert_0001_job(connection: Connection, *, optimizer: str, momentum: float) -> None:
    """A job row as revision 0001 stored it: momentum in a column of its own."""
    old_jobs = Table("jobs", MetaData(), autoload_with=connection)
    connection.execute(insert(old_jobs).values(
        status="succeeded", dataset="mnist", model="linear", optimizer=optimizer, lr=0.1, momentum=momentum,
        epochs=1, batch_size=64, device="cpu", seed=1, attempts=1, cancel_requested=False,
        progress_epoch=1, progress_fraction=0.0, created_at=datetime(2026, 11, 1)))


def test_a_database_made_before_migrations_is_adopted_with_its_jobs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _migrate_to(engine, schema.BASELINE)  # what mnistlab made before Alembic: these tables, no version
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))
            _insert_0001_job(connection, optimizer="sgd", momentum=0.0)
        schema.upgrade(engine)
        with engine.connect() as connection:
            assert schema.current_revision(connection) == schema.head_revision()
            assert connection.scalar(select(func.count()).select_from(tables.Job)) == 1
    finally:
        engine.dispose()


@both_databases
def test_a_revision_in_alembics_default_table_moves_to_mnistlabs_own(database: str) -> None:
    """Before sweeps, mnistlab kept its revision in alembic_version; Optuna's storage claims that table now."""
    engine = make_engine(database)
    try:
        _migrate_to(engine, "0002")
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))  # as it was: the revision in Alembic's
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('0002')"))
        schema.upgrade(engine)
        with engine.connect() as connection:
            assert schema.current_revision(connection) == schema.head_revision()
            assert "alembic_version" not in inspect(connection).get_table_names()
            assert "stopped_early" in {column["name"] for column in inspect(connection).get_columns("jobs")}
    finally:
        engine.dispose()


@both_databases
def test_optimizer_settings_of_old_jobs_move_into_optimizer_params(database: str) -> None:
    engine = make_engine(database)
    try:
        _migrate_to(engine, "0001")
        with engine.begin() as connection:
            _insert_0001_job(connection, optimizer="sgd", momentum=0.9)
            _insert_0001_job(connection, optimizer="adam", momentum=0.0)
        schema.upgrade(engine)
        with make_sessions(engine)() as session:
            sgd, adam = session.scalars(select(tables.Job).order_by(tables.Job.id)).all()
            assert sgd.config.optimizer_params == {"momentum": 0.9, "nesterov": False}
            assert adam.config.optimizer_params == {}
    finally:
        engine.dispose()


@both_databases
def test_processes_starting_together_migrate_once_without_errors(database: str, tmp_path: Path) -> None:
    # Each process, once imported and ready, waits for the other three (a barrier of files), then migrates:
    # the four reach the database together, not one after another's start-up.
    code = ("import os, sys, time; from pathlib import Path; from mnistlab import logs, schema; "
            "from mnistlab.db import make_engine; logs.configure(level='INFO', json_lines=False); "
            "engine = make_engine(sys.argv[1]); gate = Path(sys.argv[2]); (gate / str(os.getpid())).touch(); "
            "[time.sleep(0.001) for _ in iter(lambda: len(list(gate.iterdir())) < 4, False)]; schema.upgrade(engine)")
    gate = tmp_path / "barrier"
    gate.mkdir()
    starting = [subprocess.Popen([sys.executable, "-c", code, database, str(gate)], cwd=REPO, stderr=subprocess.PIPE)
                for _ in range(4)]
    errors = [process.communicate(timeout=120)[1].decode() for process in starting]
    assert [process.returncode for process in starting] == [0, 0, 0, 0], errors
    # Alembic logs each step it runs: exactly one process ran them all, the other three found them done.
    steps = [[line.split("Running upgrade", 1)[1].strip() for line in err.splitlines() if "Running upgrade" in line]
             for err in errors]
    assert sorted(len(ran) for ran in steps) == [0, 0, 0, 8], errors
    assert max(steps, key=len) == ["-> 0001, Initial schema: jobs, their epoch metrics, live workers, default "
                                   "models (mnistlab before Alembic).",
                                   "0001 -> 0002, Optimizer hyper-parameters in one JSON column "
                                   "(optimizer_params) instead of a column each.",
                                   "0002 -> 0003, Learning-rate schedules and early stopping: jobs.lr_schedule, "
                                   "jobs.early_stopping, jobs.stopped_early.",
                                   "0003 -> 0004, Sweeps: the sweeps table, and each job's sweep and trial number.",
                                   "0004 -> 0005, Change notifications on PostgreSQL: every insert or update of a "
                                   "job or a sweep NOTIFYs mnistlab_events.",
                                   "0005 -> 0006, Augmentation and label smoothing: jobs.augmentation, "
                                   "jobs.label_smoothing.",
                                   "0006 -> 0007, What reproduces a job beside its config: jobs.environment "
                                   "(mnistlab and torch versions, the data's sha256).",
                                   "0007 -> 0008, Sign-in attempts per client address, in the database: one limit "
                                   "for every API process and host."]
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            assert {"jobs", "epoch_metrics", "workers", "default_models"} <= set(inspect(connection).get_table_names())
            assert schema.current_revision(connection) == schema.head_revision()
    finally:
        engine.dispose()
