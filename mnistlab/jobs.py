"""Every transition of a job's life, each written once: submit, claim, heartbeat, record, finish.

States: queued -> running -> succeeded | failed | cancelled; a running job whose worker went silent
goes back to queued (or to failed once it has used up its attempts).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from mnistlab.db import utcnow
from mnistlab.tables import EpochMetric, Job, JobStatus, WorkerRecord

log = logging.getLogger(__name__)


# --- workers -------------------------------------------------------------------------------------


def register_worker(session: Session, *, worker_id: str, hostname: str, pid: int, devices: list[str]) -> None:
    now = utcnow()
    session.merge(WorkerRecord(id=worker_id, hostname=hostname, pid=pid, devices=devices,
                               started_at=now, heartbeat_at=now))


def touch_worker(session: Session, worker_id: str) -> None:
    session.execute(update(WorkerRecord).where(WorkerRecord.id == worker_id).values(heartbeat_at=utcnow()))


def unregister_worker(session: Session, worker_id: str) -> None:
    session.execute(delete(WorkerRecord).where(WorkerRecord.id == worker_id))


def live_workers(session: Session, *, timeout: float) -> list[WorkerRecord]:
    cutoff = utcnow() - timedelta(seconds=timeout)
    return list(session.scalars(select(WorkerRecord).where(WorkerRecord.heartbeat_at >= cutoff)))


def runnable_devices(devices: list[str]) -> list[str]:
    """The job devices a worker with these devices can run: its own, plus "auto"."""
    return sorted({*devices, "auto"})


# --- the queue ------------------------------------------------------------------------------------


def claim_next(session: Session, *, worker_id: str, devices: list[str]) -> Job | None:
    """Atomically take the oldest queued job this worker can run; None when there is none."""
    now = utcnow()
    oldest = (
        select(Job.id)
        .where(Job.status == JobStatus.queued, Job.device.in_(runnable_devices(devices)))
        .order_by(Job.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Lock the row we pick and pass over rows other workers are taking, so claims never wait
        # on each other. SQLite has one writer at a time anyway: its statement below is atomic.
        oldest = oldest.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(Job)
        .where(Job.id == oldest.scalar_subquery(), Job.status == JobStatus.queued)
        .values(status=JobStatus.running, worker_id=worker_id, heartbeat_at=now,
                started_at=func.coalesce(Job.started_at, now), attempts=Job.attempts + 1)
        .returning(Job.id)
    ).scalar_one_or_none()
    if claimed is None:
        return None
    return session.get(Job, claimed, populate_existing=True)


def requeue_stale(session: Session, *, timeout: float, max_attempts: int) -> list[int]:
    """Put jobs of silent workers back in the queue, or fail those that used up their attempts."""
    cutoff = utcnow() - timedelta(seconds=timeout)
    stale = Job.status == JobStatus.running, Job.heartbeat_at < cutoff
    failed = session.execute(
        update(Job)
        .where(*stale, Job.attempts >= max_attempts)
        .values(status=JobStatus.failed, finished_at=utcnow(), worker_id=None,
                error=f"its worker stopped responding {max_attempts} times (crash, out of memory or "
                      f"killed); gave up after MNISTLAB_MAX_ATTEMPTS={max_attempts} attempts")
        .returning(Job.id)
    ).scalars().all()
    requeued = session.execute(
        update(Job).where(*stale).values(status=JobStatus.queued, worker_id=None).returning(Job.id)
    ).scalars().all()
    for job_id in failed:
        log.warning("its worker went silent %d times: failed", max_attempts, extra={"job_id": job_id})
    for job_id in requeued:
        log.warning("its worker went silent: requeued", extra={"job_id": job_id})
    return [*failed, *requeued]


class Ownership(enum.Enum):
    keep = "keep"        # carry on
    cancel = "cancel"    # a user asked to stop
    lost = "lost"        # another worker owns the job now (we were presumed dead): stop, write nothing


@dataclass(frozen=True)
class Progress:
    epoch: int
    fraction: float
    eta_seconds: float | None


def job_heartbeat(session: Session, *, job_id: int, worker_id: str, progress: Progress) -> Ownership:
    cancel = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker_id == worker_id, Job.status == JobStatus.running)
        .values(heartbeat_at=utcnow(), progress_epoch=progress.epoch,
                progress_fraction=progress.fraction, eta_seconds=progress.eta_seconds)
        .returning(Job.cancel_requested)
    ).scalar_one_or_none()
    if cancel is None:
        return Ownership.lost
    return Ownership.cancel if cancel else Ownership.keep


def owns(job_id: int, worker_id: str):  # type: ignore[no-untyped-def]
    return (Job.id == job_id, Job.worker_id == worker_id, Job.status == JobStatus.running)


def insert_metric_once(session: Session, *, job_id: int, metric: dict) -> None:
    """Insert an epoch's metrics unless that epoch is already recorded (a resumed job replays it)."""
    values = {"job_id": job_id, "created_at": utcnow(), **metric}
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:  # pragma: no cover - other databases are not supported
        session.execute(insert(EpochMetric).values(**values))
        return
    session.execute(dialect_insert(EpochMetric).values(**values).on_conflict_do_nothing())


def record_epoch(session: Session, *, job_id: int, worker_id: str, metric: dict,
                 best_epoch: int | None, best_test_accuracy: float | None) -> bool:
    """Record a finished epoch whose checkpoints are already on disk; False if we lost the job."""
    epoch = metric["epoch"]
    updated = session.execute(
        update(Job).where(*owns(job_id, worker_id))
        .values(last_epoch=epoch, best_epoch=best_epoch, best_test_accuracy=best_test_accuracy,
                progress_epoch=epoch, progress_fraction=0.0, heartbeat_at=utcnow())
        .returning(Job.id)
    ).scalar_one_or_none()
    if updated is None:
        return False
    insert_metric_once(session, job_id=job_id, metric=metric)
    return True


def set_running_details(session: Session, *, job_id: int, worker_id: str, ran_on: str, init_hash: str,
                        environment: dict[str, str]) -> None:
    session.execute(update(Job).where(*owns(job_id, worker_id))
                    .values(ran_on=ran_on, init_hash=init_hash, environment=environment))


def finish(session: Session, *, job_id: int, worker_id: str, status: JobStatus, error: str | None = None,
           stopped_early: str | None = None) -> bool:
    updated = session.execute(
        update(Job).where(*owns(job_id, worker_id))
        .values(status=status, error=error, stopped_early=stopped_early, finished_at=utcnow(), worker_id=None,
                eta_seconds=None)
        .returning(Job.id)
    ).scalar_one_or_none()
    return updated is not None


def hand_back(session: Session, *, job_id: int, worker_id: str) -> None:
    """A worker that is shutting down returns its job to the queue; that attempt does not count."""
    session.execute(
        update(Job).where(*owns(job_id, worker_id))
        .values(status=JobStatus.queued, worker_id=None, eta_seconds=None, attempts=Job.attempts - 1)
    )


def request_cancel(session: Session, job: Job) -> None:
    """Queued jobs end at once; running ones stop at their next batch."""
    session.execute(update(Job).where(Job.id == job.id, Job.status == JobStatus.queued)
                    .values(status=JobStatus.cancelled, finished_at=utcnow(), cancel_requested=True))
    session.execute(update(Job).where(Job.id == job.id, Job.status == JobStatus.running)
                    .values(cancel_requested=True))
    session.refresh(job)


# --- reading ----------------------------------------------------------------------------------------


def metrics_of(session: Session, job_id: int, *, after_epoch: int = 0) -> list[EpochMetric]:
    return list(session.scalars(
        select(EpochMetric).where(EpochMetric.job_id == job_id, EpochMetric.epoch > after_epoch)
        .order_by(EpochMetric.epoch)
    ))


def queued_ahead(session: Session, job: Job) -> int:
    return session.scalar(select(func.count()).where(Job.status == JobStatus.queued, Job.id < job.id)) or 0
