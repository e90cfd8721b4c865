"""Server-Sent Events for one job: progress while an epoch runs, each finished epoch, the final status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.spec import MAX_EPOCHS
from mnistlab.tables import Job
from service.deps import ReadSessionsDep
from service.schemas import JobId, MetricOut, error_responses
from service.submission import get_job

router = APIRouter(tags=["jobs"], responses=error_responses(404))
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


def _event(kind: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n"


def _after_epoch(last_event_id: str | None) -> int:
    """Resume point from Last-Event-ID ("epoch-N"); anything else starts from the beginning. No job has
    more than MAX_EPOCHS epochs, so a bigger N means "all of them"."""
    if last_event_id and last_event_id.startswith("epoch-") and last_event_id[6:].isdigit():
        return min(int(last_event_id[6:]), MAX_EPOCHS)
    return 0


def _snapshot(reads: sessionmaker, job_id: JobId, after: int) -> tuple[Job, list[MetricOut]]:
    with reads() as session:
        job = get_job(session, job_id)
        rows = [MetricOut.model_validate(row) for row in jobs.metrics_of(session, job_id, after_epoch=after)]
    return job, rows


async def _stream(request: Request, reads: sessionmaker, job_id: JobId, after: int) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    last_progress, idle = None, 0.0
    while True:
        job, rows = await run_in_threadpool(_snapshot, reads, job_id, after)
        for row in rows:
            after = row.epoch
            yield _event("epoch", row.model_dump(), f"epoch-{row.epoch}")
        if job.status.ended:
            yield _event("status", {"status": job.status.value, "error": job.error,
                                    "best": {"epoch": job.best_epoch, "test_accuracy": job.best_test_accuracy}})
            return
        progress = {"status": job.status.value, "epoch": job.progress_epoch, "epochs": job.epochs,
                    "fraction": job.progress_fraction, "eta_seconds": job.eta_seconds}
        if progress != last_progress:
            last_progress, idle = progress, 0.0
            yield _event("progress", progress)
        elif idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: JobId, request: Request, reads: ReadSessionsDep,
                     last_event_id: str | None = Header(None)) -> StreamingResponse:
    """SSE: `progress`, `epoch` (id epoch-N; reconnect with Last-Event-ID to resume) and a final `status`."""
    await run_in_threadpool(_snapshot, reads, job_id, 0)  # 404 before the stream starts
    return StreamingResponse(_stream(request, reads, job_id, _after_epoch(last_event_id)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
