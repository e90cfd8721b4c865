"""Training curves, comparisons of jobs (the lab's SGD-against-Adam figure) and data set samples."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from mnistlab import jobs
from mnistlab.spec import DATASET_CLASSES
from mnistlab.tables import Job
from service import plots
from service.deps import DataDep, FiguresDep, ReadSessionDep
from service.errors import Invalid
from service.schemas import (
    MAX_ID,
    CompareOut,
    CompareSeries,
    DatasetName,
    JobId,
    MetricOut,
    error_responses,
)
from service.submission import get_job
from service.views import job_view

router = APIRouter(tags=["figures"], responses=error_responses(404, 409))
PNG = {200: {"content": {"image/png": {}}}}
MAX_COMPARED = 12
# What the schema promises: 1 to 12 ids. The parser below also takes spaces and repeats, and says what is wrong.
JOB_IDS = Query(description="comma-separated ids, e.g. 1,2",
                json_schema_extra={"pattern": rf"^[1-9][0-9]{{0,17}}(,[1-9][0-9]{{0,17}}){{0,{MAX_COMPARED - 1}}}$"})


def describe_settings(job: Job) -> str:
    parts = [f"#{job.id} {job.model}", job.optimizer, f"lr {job.lr:g}"]
    for knob, value in job.config.optimizer_params.items():  # only what differs from plain: 0 and false say nothing
        if value is True:
            parts.append(knob)
        elif value:
            parts.append(f"{knob} {value:g}")
    parts.append(f"batch {job.batch_size or 'full'}")
    return ", ".join(parts)


def _metric_rows(session: Session, job_id: JobId) -> list[dict]:
    return [MetricOut.model_validate(row).model_dump() for row in jobs.metrics_of(session, job_id)]


def _parse_ids(raw: str) -> list[int]:
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise Invalid(("query", "jobs"), "jobs must be comma-separated job ids, e.g. jobs=1,2") from None
    if not ids or len(ids) > MAX_COMPARED or not all(1 <= i <= MAX_ID for i in ids):
        raise Invalid(("query", "jobs"), f"give between 1 and {MAX_COMPARED} valid job ids")
    return list(dict.fromkeys(ids))


def _compare(session: Session, raw_ids: str) -> CompareOut:
    series = []
    for job_id in _parse_ids(raw_ids):
        job = get_job(session, job_id)
        series.append(CompareSeries(job_id=job.id, label=describe_settings(job),
                                    init_hash=job_view(job, None).init_hash,
                                    metrics=[MetricOut(**row) for row in _metric_rows(session, job.id)]))
    epochs = sorted({m.epoch for s in series for m in s.metrics})
    return CompareOut(epochs=epochs, same_initial_weights=len({s.init_hash for s in series}) == 1, jobs=series)


@router.get("/jobs/{job_id}/plot.png", response_class=Response, responses=PNG)
def job_plot(job_id: JobId, session: ReadSessionDep, figures: FiguresDep) -> Response:
    """Loss and train and test accuracy against epoch; up to date while the job runs."""
    job = get_job(session, job_id)
    png = figures.png(plots.curves, [(describe_settings(job), _metric_rows(session, job_id))],
                      title=f"job {job.id} on {job.dataset} ({job.status.value})")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/compare", response_model=CompareOut)
def compare(session: ReadSessionDep, jobs: Annotated[str, JOB_IDS]) -> CompareOut:
    """Several jobs' metrics aligned by epoch, and whether they started from the same weights."""
    return _compare(session, jobs)


@router.get("/compare.png", response_class=Response, responses=PNG)
def compare_png(session: ReadSessionDep, figures: FiguresDep,
                jobs: Annotated[str, JOB_IDS]) -> Response:
    """The lab's comparison figure: loss and accuracies of several jobs on shared axes."""
    result = _compare(session, jobs)
    datasets = sorted({get_job(session, s.job_id).dataset for s in result.jobs})
    note = "same initial weights" if result.same_initial_weights else "different initial weights"
    png = figures.png(plots.curves, [(s.label, [m.model_dump() for m in s.metrics]) for s in result.jobs],
                      title=f"{', '.join(datasets)}: {note}")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/datasets/{name}/samples.png", response_class=Response, responses=PNG)
async def samples_png(name: DatasetName, data_cache: DataDep, figures: FiguresDep,
                      split: Literal["train", "test"] = "train",
                      n: Annotated[int, Query(ge=1, le=100)] = 18,
                      seed: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """A grid of random images from the data set, titled with their labels."""
    def render() -> bytes:
        data = data_cache.split(name, train=split == "train")
        picked = np.random.default_rng(seed).choice(len(data), size=n, replace=False)
        names = DATASET_CLASSES[name]
        return figures.png(plots.image_grid, data.images[picked, 0].numpy(),
                           [names[int(data.labels[i])] for i in picked])

    return Response(await run_in_threadpool(render), media_type="image/png")
