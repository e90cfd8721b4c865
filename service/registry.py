"""Which model answers a prediction: a job's best checkpoint, or a data set's default (chosen or shipped)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mnistlab.settings import Settings
from mnistlab.tables import DefaultModel, Job, JobStatus
from models_store import checkpoints
from models_store.shipped import load_shipped
from service.errors import Conflict, Invalid
from service.predictor import LoadedModel, ModelCache, make_loaded
from service.submission import get_job

DEFAULTS_TTL = 2.0  # seconds another API process may serve a default that an operator just changed


class DefaultsCache:
    """Data set -> chosen job id (None: shipped). Changes made through this process apply at once."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._choices: dict[str, int | None] = {}
        self._fetched = 0.0

    def job_for(self, dataset: str) -> int | None:
        with self._lock:
            if time.monotonic() - self._fetched > DEFAULTS_TTL:
                with self._sessions() as session:
                    rows = session.execute(select(DefaultModel.dataset, DefaultModel.job_id)).all()
                    self._choices = {dataset: job_id for dataset, job_id in rows}
                self._fetched = time.monotonic()
            return self._choices.get(dataset)

    def invalidate(self) -> None:
        with self._lock:
            self._fetched = 0.0


def get_job_with_checkpoint(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    if job.best_epoch is None:
        raise Conflict(f"job {job_id} has no checkpoint yet ({job.status.value})")
    return job


def job_model(cache: ModelCache, settings: Settings, job: Job) -> LoadedModel:
    def load() -> LoadedModel:
        payload = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job.id, "best"))
        metrics = payload.get("metrics") or {}
        return make_loaded(job_id=job.id, dataset=job.dataset, model=job.model, hidden=job.hidden,
                           epoch=payload["epoch"], test_accuracy=metrics.get("test_accuracy"),
                           weights=payload["model"])

    return cache.get(("job", job.id, job.best_epoch), load)


def shipped_model(cache: ModelCache, dataset: str) -> LoadedModel:
    def load() -> LoadedModel:
        shipped = load_shipped(dataset)
        return make_loaded(job_id=None, dataset=dataset, model=shipped.model, hidden=None, epoch=shipped.epoch,
                           test_accuracy=shipped.test_accuracy, weights=shipped.weights)

    return cache.get(("shipped", dataset), load)


def default_model(cache: ModelCache, defaults: DefaultsCache, sessions: sessionmaker, settings: Settings,
                  dataset: str) -> LoadedModel:
    job_id = defaults.job_for(dataset)
    if job_id is None:
        return shipped_model(cache, dataset)
    with sessions() as session:
        job = session.get(Job, job_id)
    if job is None or job.best_epoch is None:
        return shipped_model(cache, dataset)
    return job_model(cache, settings, job)


def set_default(session: Session, dataset: str, job_id: int) -> Job:
    job = get_job_with_checkpoint(session, job_id)
    if job.status != JobStatus.succeeded:
        raise Conflict(f"job {job_id} has not succeeded ({job.status.value}); only a finished job's model can be the default")
    if job.dataset != dataset:
        raise Invalid(("body", "job_id"), f"job {job_id} trained on {job.dataset!r}, not {dataset!r}")
    session.merge(DefaultModel(dataset=dataset, job_id=job_id))
    return job


def clear_default(session: Session, dataset: str) -> None:
    row = session.get(DefaultModel, dataset)
    if row is not None:
        session.delete(row)
