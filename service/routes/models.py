"""The model registry: each data set's default model and every succeeded job's model."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from mnistlab.datasets import DATASETS
from mnistlab.tables import Job, JobStatus
from service.registry import clear_default, default_model, set_default
from service.schemas import DatasetName, DefaultChoice, ModelInfo, ModelRegistry, error_responses

router = APIRouter(prefix="/models", tags=["models"], responses=error_responses(404, 409))


def _default_info(request: Request, dataset: str) -> ModelInfo:
    state = request.app.state
    return ModelInfo(**default_model(state.models, state.defaults, state.sessions, state.settings, dataset).describe())


@router.get("", response_model=ModelRegistry)
def read_models(request: Request) -> ModelRegistry:
    """Each data set's default model, and the best model of every succeeded job."""
    with request.app.state.sessions() as session:  # closed before the defaults are read: one SQLite writer at a time
        succeeded = session.scalars(select(Job).where(Job.status == JobStatus.succeeded, Job.best_epoch.is_not(None))
                                    .order_by(Job.id.desc())).all()
    return ModelRegistry(
        defaults={name: _default_info(request, name) for name in DATASETS},
        jobs=[ModelInfo(job_id=job.id, dataset=job.dataset, model=job.model, epoch=job.best_epoch,
                        test_accuracy=job.best_test_accuracy) for job in succeeded],
    )


@router.put("/{dataset}/default", response_model=ModelInfo)
def choose_default(dataset: DatasetName, choice: DefaultChoice, request: Request) -> ModelInfo:
    """Make a succeeded job's model the data set's default (from the next request on)."""
    with request.app.state.sessions.begin() as session:
        job = set_default(session, dataset, choice.job_id)
    request.app.state.defaults.invalidate()
    return ModelInfo(job_id=job.id, dataset=job.dataset, model=job.model, epoch=job.best_epoch or 0,
                     test_accuracy=job.best_test_accuracy)


@router.delete("/{dataset}/default", response_model=ModelInfo)
def restore_shipped(dataset: DatasetName, request: Request) -> ModelInfo:
    """Go back to the model shipped with mnistlab."""
    with request.app.state.sessions.begin() as session:
        clear_default(session, dataset)
    request.app.state.defaults.invalidate()
    return _default_info(request, dataset)
