"""The model registry: each data set's default model and every succeeded job's model."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from mnistlab.spec import DATASET_NAMES, JobStatus
from mnistlab.tables import Job
from service.deps import ReadSessionDep, RegistryDep, SessionDep
from service.schemas import (
    DatasetName,
    DefaultChoice,
    ModelInfo,
    ModelsOut,
    error_responses,
)

router = APIRouter(prefix="/models", tags=["models"], responses=error_responses(404, 409))


@router.get("", response_model=ModelsOut)
def read_models(session: ReadSessionDep, registry: RegistryDep) -> ModelsOut:
    """Each data set's default model, and the best model of every succeeded job."""
    succeeded = session.scalars(select(Job).where(Job.status == JobStatus.succeeded, Job.best_epoch.is_not(None))
                                .order_by(Job.id.desc())).all()
    return ModelsOut(
        defaults={name: ModelInfo(**registry.default(name).describe()) for name in DATASET_NAMES},
        jobs=[ModelInfo(job_id=job.id, dataset=job.dataset, model=job.model, epoch=job.best_epoch,
                        test_accuracy=job.best_test_accuracy) for job in succeeded],
    )


@router.put("/{dataset}/default", response_model=ModelInfo)
def choose_default(dataset: DatasetName, choice: DefaultChoice, session: SessionDep, registry: RegistryDep) -> ModelInfo:
    """Make a succeeded job's model the data set's default (from the next request on)."""
    job = registry.set_default(session, dataset, choice.job_id)
    return ModelInfo(job_id=job.id, dataset=job.dataset, model=job.model, epoch=job.best_epoch or 0,
                     test_accuracy=job.best_test_accuracy)


@router.delete("/{dataset}/default", response_model=ModelInfo)
def restore_shipped(dataset: DatasetName, session: SessionDep, registry: RegistryDep) -> ModelInfo:
    """Go back to the model shipped with mnistlab."""
    registry.clear_default(session, dataset)
    return ModelInfo(**registry.shipped(dataset).describe())
