"""Accepting a training job: defaults filled in, the device checked against live workers."""

from __future__ import annotations

import hashlib
import json
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mnistlab import jobs
from mnistlab.settings import Settings
from mnistlab.spec import MAX_SEED, JobRequest, JobStatus
from mnistlab.tables import Job
from service.errors import Conflict, Invalid, NotFound


def check_device(session: Session, settings: Settings, device: str) -> None:
    """422 when workers are up but none can run the device; with no worker at all, the job waits."""
    workers = jobs.live_workers(session, timeout=settings.heartbeat_timeout)
    if workers and not any(device in jobs.runnable_devices(w.devices) for w in workers):
        have = sorted({d for w in workers for d in w.devices})
        raise Invalid(("body", "device"), f"no live worker has device {device!r} (live workers have: {', '.join(have)})")


def _request_hash(job_in: JobRequest) -> str:
    return hashlib.sha256(json.dumps(job_in.model_dump(), sort_keys=True).encode()).hexdigest()


def _replay(session: Session, key: str, request_hash: str) -> Job | None:
    job = session.scalar(select(Job).where(Job.idempotency_key == key))
    if job is not None and job.request_hash != request_hash:
        raise Conflict(f"Idempotency-Key {key!r} was already used for a different job request")
    return job


def submit_job(session: Session, settings: Settings, job_in: JobRequest,
               idempotency_key: str | None = None) -> tuple[Job, bool]:
    """Queue a job; with an Idempotency-Key already seen, return that job instead. -> (job, created)"""
    request_hash = _request_hash(job_in)
    if idempotency_key is not None and (existing := _replay(session, idempotency_key, request_hash)):
        return existing, False
    check_device(session, settings, job_in.device)
    config = job_in.resolve(seed=secrets.randbelow(MAX_SEED + 1))
    job = Job.from_config(config, status=JobStatus.queued, idempotency_key=idempotency_key,
                          request_hash=request_hash)
    try:
        with session.begin_nested():  # a concurrent twin that won the race makes this a replay
            session.add(job)
    except IntegrityError:
        assert idempotency_key is not None
        existing = _replay(session, idempotency_key, request_hash)
        assert existing is not None
        return existing, False
    return job, True


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(session: Session, *, status: str | None, dataset: str | None, limit: int, offset: int) -> tuple[int, list[Job]]:
    query = select(Job)
    if status:
        query = query.where(Job.status == JobStatus(status))
    if dataset:
        query = query.where(Job.dataset == dataset)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)))
    return total, rows
