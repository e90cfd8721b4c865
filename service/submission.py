"""Accepting a training job: defaults filled in, the device checked against live workers."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mnistlab import jobs
from mnistlab.settings import Settings
from mnistlab.tables import Job, JobStatus
from service.errors import Invalid, NotFound
from service.schemas import JobCreate
from workers.training import DEFAULT_LR


def check_device(session: Session, settings: Settings, device: str) -> None:
    """422 when workers are up but none can run the device; with no worker at all, the job waits."""
    workers = jobs.live_workers(session, timeout=settings.heartbeat_timeout)
    if workers and not any(device in jobs.runnable_devices(w.devices) for w in workers):
        have = sorted({d for w in workers for d in w.devices})
        raise Invalid(("body", "device"), f"no live worker has device {device!r} (live workers have: {', '.join(have)})")


def submit_job(session: Session, settings: Settings, job_in: JobCreate) -> Job:
    check_device(session, settings, job_in.device)
    job = Job(
        status=JobStatus.queued, dataset=job_in.dataset, model=job_in.model,
        hidden=(job_in.hidden or 128) if job_in.model == "ffnn" else None,
        optimizer=job_in.optimizer, lr=job_in.lr or DEFAULT_LR[job_in.optimizer], momentum=job_in.momentum or 0.0,
        epochs=job_in.epochs, batch_size=job_in.batch_size, device=job_in.device,
        seed=job_in.seed if job_in.seed is not None else secrets.randbelow(2**31),
    )
    session.add(job)
    session.flush()
    return job


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
