"""The API's sweep of silent jobs: a running job whose worker stopped beating goes back to the queue.

Workers sweep too, before each claim; but when every worker is busy with a long job, only the API
notices a dead one in time, so the job shows `queued` (and counts as queued in /metrics) within about
one heartbeat timeout instead of staying `running` until some worker is free. The same loop advances
sweeps (mnistlab/sweeps.py): it tells Optuna how ended trials did and queues the next ones.

With several API processes (`serve --api-workers N`) one sweeps: the one holding an exclusive lock on
`$MNISTLAB_HOME/sweeper.lock`. The kernel drops the lock when its holder dies, however it dies, and
another process takes it at its next turn.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from pathlib import Path
from typing import IO

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs, sweeps
from mnistlab.logs import first_line
from mnistlab.settings import Settings
from service.background import in_thread

log = logging.getLogger(__name__)
SWEEPS_TICK = 1.0  # seconds between looks at running sweeps


def sweep_once(sessions: sessionmaker, settings: Settings) -> list[int]:
    with sessions.begin() as session:
        return jobs.requeue_stale(session, timeout=settings.heartbeat_timeout, max_attempts=settings.max_attempts)


def _take_lock(path: Path) -> IO[bytes] | None:
    """The open lock file if this process now holds the lock, else None."""
    handle = open(path, "ab")  # noqa: SIM115 - held open for the life of the process: closing it unlocks
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


async def sweep_forever(sessions: sessionmaker, reads: sessionmaker, studies: sweeps.StudyStorage,
                        settings: Settings) -> None:
    lock: IO[bytes] | None = None
    last_requeue = time.monotonic()
    try:
        while True:
            await asyncio.sleep(SWEEPS_TICK)
            if lock is None:
                lock = _take_lock(settings.home / "sweeper.lock")
                if lock is None:
                    continue  # another API process sweeps
                log.info("API process %d sweeps silent jobs and advances sweeps", os.getpid())
            try:
                # Sweeps every tick (a freed worker gets the next trial within a second); silent jobs
                # every half heartbeat timeout, which is as soon as one can be told from a slow one.
                await in_thread(sweeps.advance_all, sessions, reads, studies)
                if time.monotonic() - last_requeue >= settings.heartbeat_timeout / 2:
                    last_requeue = time.monotonic()
                    await in_thread(sweep_once, sessions, settings)
            except OperationalError as error:  # the database is away: the next sweep tries again
                log.warning("sweep of silent jobs failed: %s", first_line(error))
    finally:
        if lock is not None:
            lock.close()
