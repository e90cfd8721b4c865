"""Server-Sent Events: one job's (progress, each finished epoch, the final status) and everything's.

Both are fed by the process's broadcaster (service/live_events.py): a stream reads the database itself
only when it starts (a job's past epochs) or finds itself behind, never once per interval.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.spec import MAX_EPOCHS
from mnistlab.tables import Job
from service.deps import StateDep
from service.live_events import DROPPED, Subscription, sse
from service.schemas import JobId, MetricOut, error_responses
from service.state import AppState
from service.submission import get_job

router = APIRouter(tags=["jobs"], responses=error_responses(404, 503))
KEEPALIVE_SECONDS = 15.0
STREAM = {200: {"content": {"text/event-stream": {}}}}
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _after_epoch(last_event_id: str | None) -> int:
    """Resume point from Last-Event-ID ("epoch-N"); anything else starts from the beginning. No job has
    more than MAX_EPOCHS epochs, so a bigger N means "all of them"."""
    if last_event_id and last_event_id.startswith("epoch-") and last_event_id[6:].isdigit():
        return min(int(last_event_id[6:]), MAX_EPOCHS)
    return 0


def _snapshot(reads: sessionmaker, job_id: int, after: int) -> tuple[Job, list[MetricOut]]:
    with reads() as session:
        job = get_job(session, job_id)
        rows = [MetricOut.model_validate(row) for row in jobs.metrics_of(session, job_id, after_epoch=after)]
    return job, rows


def _exists(reads: sessionmaker, job_id: int) -> None:
    with reads() as session:
        get_job(session, job_id)


def _epoch(row: MetricOut) -> str:
    return sse("epoch", row.model_dump(), f"epoch-{row.epoch}")


def _status(job: Job) -> str:
    return sse("status", {"status": job.status.value, "error": job.error,
                          "best": {"epoch": job.best_epoch, "test_accuracy": job.best_test_accuracy}})


async def _events(subscription: Subscription) -> AsyncIterator[tuple[str | None, object]]:
    """(text, event) from the subscription; (None, None) to keep an idle connection alive. Ends when the
    subscription was dropped for not reading; a client that hangs up ends it from outside (Starlette
    cancels a streaming response when its client disconnects)."""
    while True:
        event = await subscription.next(KEEPALIVE_SECONDS)
        if event is DROPPED:
            return
        yield (None, None) if event is None else (event.text, event)


async def _job_stream(state: AppState, job_id: int, after: int) -> AsyncIterator[str]:
    reads = state.reads
    subscription = state.events.subscribe(job_id)  # before reading the past: nothing falls in between
    try:
        job, past = await run_in_threadpool(_snapshot, reads, job_id, after)
        yield "retry: 2000\n\n"
        delivered = after
        for row in past:
            delivered = row.epoch
            yield _epoch(row)
        if job.status.ended:
            yield _status(job)
            return
        yield sse("progress", {"status": job.status.value, "epoch": job.progress_epoch, "epochs": job.epochs,
                               "fraction": job.progress_fraction, "eta_seconds": job.eta_seconds})
        async for text, event in _events(subscription):
            if event is None:
                yield ": keep-alive\n\n"
                continue
            if event.behind > delivered:  # joined between two looks, or dropped: read what is missing
                _, missing = await run_in_threadpool(_snapshot, reads, job.id, delivered)
                for row in missing:
                    delivered = row.epoch
                    yield _epoch(row)
            if event.epoch is not None:
                if event.epoch <= delivered:
                    continue
                delivered = event.epoch
            yield text  # type: ignore[misc]
            if event.kind == "status":
                return
    finally:
        subscription.close()


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse, responses=STREAM)
async def job_events(job_id: JobId, state: StateDep,
                     last_event_id: str | None = Header(None)) -> StreamingResponse:
    """SSE: `progress`, `epoch` (id epoch-N; reconnect with Last-Event-ID to resume) and a final `status`."""
    state.events.check_room()
    await run_in_threadpool(_exists, state.reads, job_id)  # a 404 before the stream starts
    return StreamingResponse(_job_stream(state, job_id, _after_epoch(last_event_id)),
                             media_type="text/event-stream", headers=HEADERS)


async def _everything_stream(state: AppState) -> AsyncIterator[str]:
    subscription = state.events.subscribe(None)
    try:
        yield "retry: 2000\n\n"
        async for text, _ in _events(subscription):
            yield text or ": keep-alive\n\n"
    finally:
        subscription.close()


@router.get("/events", response_class=StreamingResponse, responses=STREAM)
async def all_events(state: StateDep) -> StreamingResponse:
    """SSE for all jobs and sweeps: `created` (the job, as GET /jobs/{id}), `progress`, `epoch` and `status`
    (each with `job_id`), and `sweep` (the sweep, as GET /sweeps/{id}) whenever one changes. A new job's
    `created` is followed by every epoch it trained before the stream first saw it. Read the current state
    once (GET /jobs, GET /sweeps), then apply these."""
    state.events.check_room()
    return StreamingResponse(_everything_stream(state), media_type="text/event-stream", headers=HEADERS)
