"""Creates or migrates the database schema at start-up, one process at a time.

Every process (API, each worker) calls `upgrade`; a lock makes the others wait while one migrates:
PostgreSQL's transaction-scoped advisory lock, and on SQLite the write lock of BEGIN IMMEDIATE.
Databases made by mnistlab before migrations existed (tables, no alembic_version) are adopted as the
first revision, which is exactly what they contain.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

BASELINE = "0001"
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
        if _made_before_migrations(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "jobs" in tables and "alembic_version" not in tables
