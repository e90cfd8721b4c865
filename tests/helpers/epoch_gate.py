"""Lets a worker record its epochs one at a time, on PostgreSQL, so that a test sees each epoch land alone.

A worker records an epoch by inserting its row into `epoch_metrics` (after its checkpoint). The gate holds a
SHARE lock on that table, which blocks inserts and no read. PostgreSQL grants conflicting lock requests in the
order they were made: a second lock asked for while the worker waits is granted only after the worker's insert
has committed, and the worker's next insert then waits again. No timing decides which epoch lands when.

The worker's transaction holds its job's row while it waits, so its heartbeats wait too: use it with a heartbeat
timeout far longer than a test holds the gate.
"""

from __future__ import annotations

import threading

import psycopg

from tests.helpers.postgres import psycopg_url
from tests.helpers.servers import wait_for

LOCK = "LOCK TABLE epoch_metrics IN SHARE MODE"
WAITING = "SELECT count(*) FROM pg_locks WHERE relation = 'epoch_metrics'::regclass AND NOT granted"


class EpochGate:
    def __init__(self, database_url: str) -> None:
        url = psycopg_url(database_url)
        self._holders = [psycopg.connect(url), psycopg.connect(url)]  # take turns holding the lock
        self._watcher = psycopg.connect(url, autocommit=True)
        self._holding = self._holders[0]
        self._queued: threading.Thread | None = None

    def __enter__(self) -> "EpochGate":
        self._holding.execute(LOCK)  # granted at once: nobody else asks for locks on this table
        return self

    def __exit__(self, *exc: object) -> None:
        self._holding.rollback()  # first: a lock still queued behind the worker is then granted, and released
        if self._queued is not None:
            self._queued.join(timeout=60)
        for connection in (*self._holders, self._watcher):
            connection.rollback()
            connection.close()

    def _waiting(self) -> int:
        return self._watcher.execute(WAITING).fetchone()[0]  # type: ignore[index]

    def wait_for_epoch(self, *, timeout: float = 120) -> None:
        """Until the worker has trained an epoch and waits to record it."""
        wait_for(lambda: self._waiting() == 1, timeout=timeout, what="the worker to wait to record an epoch")

    def let_one_epoch_through(self) -> None:
        """The waiting worker records its epoch; the gate holds the lock again before its next one."""
        following = self._holders[1] if self._holding is self._holders[0] else self._holders[0]
        self._queued = threading.Thread(target=following.execute, args=(LOCK,), daemon=True)
        self._queued.start()
        wait_for(lambda: self._waiting() == 2, timeout=30, what="the gate's next lock to queue behind the worker")
        self._holding.commit()  # the worker goes first, then `following` holds the lock
        self._queued.join(timeout=60)
        assert not self._queued.is_alive(), "the gate's next lock was never granted"
        self._holding, self._queued = following, None
