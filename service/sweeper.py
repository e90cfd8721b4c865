"""The API's sweep of silent jobs: a running job whose worker stopped beating goes back to the queue.

Workers sweep too, before each claim; but when every worker is busy with a long job, only the API
notices a dead one in time, so the job shows `queued` (and counts as queued in /metrics) within about
one heartbeat timeout instead of staying `running` until some worker is free.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.logs import first_line
from mnistlab.settings import Settings

log = logging.getLogger(__name__)


def sweep_once(sessions: sessionmaker, settings: Settings) -> list[int]:
    with sessions.begin() as session:
        return jobs.requeue_stale(session, timeout=settings.heartbeat_timeout, max_attempts=settings.max_attempts)


async def sweep_forever(sessions: sessionmaker, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.heartbeat_timeout / 2)
        try:
            await run_in_threadpool(sweep_once, sessions, settings)
        except OperationalError as error:  # the database is away: the next sweep tries again
            log.warning("sweep of silent jobs failed: %s", first_line(error))
