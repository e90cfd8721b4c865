"""Engine and session set-up: SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE; PostgreSQL short timeouts."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; SQLite forgets time zones, so they are put back on the way out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# libpq: give up on an unreachable server in seconds, not the minutes TCP would wait, so a worker
# cut off from the database notices while its lease is still short of expiring.
POSTGRES_CONNECT_ARGS = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                         "keepalives_count": 3, "tcp_user_timeout": 10_000}


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """read_only (SQLite): transactions start deferred and the connection refuses writes, so readers
    never wait for the write lock (WAL lets them read beside a writer). PostgreSQL needs no such thing."""
    if url.startswith("postgresql"):
        options = {"postgresql_readonly": True} if read_only else {}
        return create_engine(url, pool_pre_ping=True, connect_args=POSTGRES_CONNECT_ARGS,
                             execution_options=options)
    if not url.startswith("sqlite"):
        raise ValueError(f"unsupported MNISTLAB_DATABASE_URL {url!r}: use sqlite:///PATH or postgresql+psycopg://...")
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _enable_wal(cursor, patience=60.0)
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")  # a write by mistake fails loudly instead of locking
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Writers take the write lock up front: a reader upgrading to a writer mid-transaction cannot
        # wait on the busy timeout and fails with "database is locked" instead.
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor: sqlite3.Cursor, *, patience: float) -> None:
    """Switching a new database to WAL does not wait on the busy timeout: processes opening it at once (`serve`'s
    API processes and workers on a first start) got "database is locked" from it. Retried, within the timeout."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
