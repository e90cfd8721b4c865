"""Turn job and sweep rows into their public form."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mnistlab import jobs
from mnistlab.settings import Settings
from mnistlab.spec import HYPER_PARAMETERS, JobStatus
from mnistlab.sweep_spec import SweepRequest
from mnistlab.tables import EpochMetric, Job, Sweep
from models_store.architectures import initial_weights_hash
from service.schemas import BestOut, JobOut, MetricOut, ProgressOut, SweepOut, TrialOut


def latest_metrics(session: Session, job_ids: list[int]) -> dict[int, EpochMetric]:
    if not job_ids:
        return {}
    newest = (select(EpochMetric.job_id, func.max(EpochMetric.epoch).label("epoch"))
              .where(EpochMetric.job_id.in_(job_ids)).group_by(EpochMetric.job_id).subquery())
    rows = session.scalars(select(EpochMetric).join(
        newest, (EpochMetric.job_id == newest.c.job_id) & (EpochMetric.epoch == newest.c.epoch)))
    return {row.job_id: row for row in rows}


def waiting_for(session: Session, settings: Settings, job: Job) -> str | None:
    if job.status != JobStatus.queued:
        return None
    workers = jobs.live_workers(session, timeout=settings.heartbeat_timeout)
    if not workers:
        return "no live worker: start one with `mnistlab worker` (or `mnistlab serve --workers 1`)"
    if not any(job.device in jobs.runnable_devices(w.devices) for w in workers):
        return f"a worker with device {job.device!r}"
    ahead = jobs.queued_ahead(session, job)
    return f"{ahead} queued job(s) ahead of it" if ahead else "a free worker"


def job_view(job: Job, latest: EpochMetric | None, waiting: str | None = None) -> JobOut:
    config = job.config
    # A job that stopped early is done at its last epoch.
    finished_at_epoch = (job.last_epoch or job.epochs) if job.stopped_early else job.epochs
    done = job.epochs if job.status == JobStatus.succeeded else job.progress_epoch + job.progress_fraction
    best = None
    if job.best_epoch is not None and job.best_test_accuracy is not None:
        best = BestOut(epoch=job.best_epoch, test_accuracy=job.best_test_accuracy)
    settings = {name: value for name, value in config.as_dict().items() if name != "optimizer_params"}
    knobs = {name: config.optimizer_params.get(name) for name in HYPER_PARAMETERS}  # null: not this optimizer's
    return JobOut(
        id=job.id, status=job.status.value, **settings, **knobs, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, error=job.error, attempts=job.attempts, ran_on=job.ran_on, worker_id=job.worker_id,
        progress=ProgressOut(epoch=job.progress_epoch if job.status != JobStatus.succeeded else finished_at_epoch,
                             epochs=job.epochs, fraction=min(1.0, done / job.epochs),
                             eta_seconds=job.eta_seconds if job.status == JobStatus.running else None),
        latest=MetricOut.model_validate(latest) if latest else None, best=best,
        steps_per_epoch=config.steps_per_epoch, last_batch_size=config.last_batch_size,
        init_hash=job.init_hash or initial_weights_hash(job.model, job.hidden, job.seed),
        waiting_for=waiting, stopped_early=job.stopped_early, environment=job.environment,
    )


def job_detail(session: Session, settings: Settings, job: Job) -> JobOut:
    return job_view(job, latest_metrics(session, [job.id]).get(job.id), waiting_for(session, settings, job))


def job_views(session: Session, settings: Settings, rows: list[Job]) -> list[JobOut]:
    latest = latest_metrics(session, [job.id for job in rows])
    return [job_view(job, latest.get(job.id), waiting_for(session, settings, job) if job.status == JobStatus.queued
                     else None) for job in rows]


def varied_settings(request: SweepRequest) -> list[str]:
    return list(request.grid if request.grid is not None else request.search.space)  # type: ignore[union-attr]


def sweep_param(job: Job, name: str) -> Any:
    settings = job.config.as_dict()
    return settings[name] if name in settings else job.config.optimizer_params.get(name)


def sweep_view(session: Session, sweep: Sweep) -> SweepOut:
    request = SweepRequest.model_validate(sweep.request)
    trials = list(session.scalars(select(Job).where(Job.sweep_id == sweep.id)))
    totals = dict(session.execute(select(EpochMetric.job_id, func.sum(EpochMetric.seconds))
                                  .join(Job, EpochMetric.job_id == Job.id).where(Job.sweep_id == sweep.id)
                                  .group_by(EpochMetric.job_id)).all())
    board = sorted(trials, key=lambda job: (job.best_test_accuracy is None, -(job.best_test_accuracy or 0), job.trial))
    leaderboard = [TrialOut(trial=job.trial or 0, job_id=job.id, status=job.status.value,
                            params={name: sweep_param(job, name) for name in varied_settings(request)},
                            best_test_accuracy=job.best_test_accuracy, epochs_run=job.last_epoch or 0,
                            seconds=float(totals.get(job.id) or 0.0), stopped_early=job.stopped_early)
                   for job in board]
    best = next((row.job_id for row in leaderboard if row.best_test_accuracy is not None), None)
    space = request.grid if request.grid is not None else {
        name: (values.model_dump() if hasattr(values, "model_dump") else values)
        for name, values in request.search.space.items()}  # type: ignore[union-attr]
    return SweepOut(id=sweep.id, name=sweep.name, kind=sweep.kind, status=sweep.status.value, planned=sweep.planned,
                    counts=dict(Counter(job.status.value for job in trials)), space=space,
                    sampler=request.search.sampler if request.search else None, pruner=request.pruner,
                    leaderboard=leaderboard, best_job_id=best)
