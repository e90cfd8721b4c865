"""Creates or migrates the database schema at start-up, one process at a time.

Every process (API, each worker) calls `upgrade`; a lock makes the others wait while one migrates:
PostgreSQL's transaction-scoped advisory lock, and on SQLite the write lock of BEGIN IMMEDIATE.
Databases made by mnistlab before migrations existed (tables, no version table) are adopted as the
first revision, which is exactly what they contain.

mnistlab's revision lives in its own table, `mnistlab_version`, not Alembic's default `alembic_version`:
Optuna's storage (sweeps) keeps its schema in the same database and claims `alembic_version` for its
own revisions. Databases from before that move their revision over at the next start.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

BASELINE = "0001"
VERSION_TABLE = "mnistlab_version"
LEGACY_VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 0x6D6E6973  # any constant shared by all mnistlab processes ("mnis")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "mnistlab:migrations")
    return config


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if VERSION_TABLE not in tables:
            legacy = _legacy_revision(connection, tables)
            if legacy is not None:  # ours, in Alembic's default table: move it, leave that table to Optuna
                command.stamp(config, legacy)
                connection.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))
            elif "jobs" in tables:  # made before migrations existed
                command.stamp(config, BASELINE)
        command.upgrade(config, "head")


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _legacy_revision(connection: Connection, tables: set[str]) -> str | None:
    """mnistlab's revision if Alembic's default table holds one of ours (not Optuna's)."""
    if LEGACY_VERSION_TABLE not in tables:
        return None
    ours = {revision.revision for revision in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    found = connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).scalar_one_or_none()
    return found if found in ours else None
