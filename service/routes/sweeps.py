"""Sweeps: a grid or an Optuna search over job settings, its leaderboard and its picture."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mnistlab import jobs, sweeps
from mnistlab.sweep_spec import SweepRequest
from mnistlab.tables import EpochMetric, Job, Sweep
from service import plots
from service.deps import ReadSessionDep, SessionDep, SettingsDep, StateDep
from service.errors import Invalid, NotFound
from service.schemas import JobId, error_responses

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=error_responses(404))
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


class TrialOut(BaseModel):
    trial: int
    job_id: int
    status: str
    params: dict[str, Any] = Field(description="the settings this sweep varies, as this trial has them")
    best_test_accuracy: float | None
    epochs_run: int
    seconds: float
    stopped_early: str | None


class SweepOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    planned: int
    counts: dict[str, int] = Field(description="trials by job status")
    space: dict[str, Any] = Field(description="the grid, or the search space")
    sampler: str | None
    pruner: str
    leaderboard: list[TrialOut] = Field(description="trials by best test accuracy, best first")
    best_job_id: int | None = Field(description="make it the default model: PUT /models/{dataset}/default")


def _varied(request: SweepRequest) -> list[str]:
    return list(request.grid if request.grid is not None else request.search.space)  # type: ignore[union-attr]


def _param(job: Job, name: str) -> Any:
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
                            params={name: _param(job, name) for name in _varied(request)},
                            best_test_accuracy=job.best_test_accuracy, epochs_run=job.last_epoch or 0,
                            seconds=float(totals.get(job.id) or 0.0), stopped_early=job.stopped_early)
                   for job in board]
    best = next((row.job_id for row in leaderboard if row.best_test_accuracy is not None), None)
    space = request.grid if request.grid is not None else {
        name: (values.model_dump() if hasattr(values, "model_dump") else values)
        for name, values in request.search.space.items()}  # type: ignore[union-attr]
    return SweepOut(id=sweep.id, name=sweep.name, kind=sweep.kind, status=sweep.status, planned=sweep.planned,
                    counts=dict(Counter(job.status.value for job in trials)), space=space,
                    sampler=request.search.sampler if request.search else None, pruner=request.pruner,
                    leaderboard=leaderboard, best_job_id=best)


def _get(session: Session, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise NotFound(f"sweep {sweep_id} not found")
    return sweep


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SweepOut)
async def create_sweep(request: SweepRequest, state: StateDep) -> SweepOut:
    """Queue a grid (every combination) or a search (Optuna asks trials as workers free up). Every trial is a job."""
    problems = request.check(max_jobs=state.settings.max_sweep_jobs)
    if problems:  # nothing is created: the sweep runs whole or not at all
        raise Invalid(("body",), "; ".join(problems))
    sweep_id = await run_in_threadpool(sweeps.create, state.sessions, state.studies, request)
    with state.reads() as session:
        return sweep_view(session, _get(session, sweep_id))


@router.get("", response_model=list[SweepOut])
def list_sweeps(session: ReadSessionDep) -> list[SweepOut]:
    """Every sweep, newest first."""
    return [sweep_view(session, sweep) for sweep in session.scalars(select(Sweep).order_by(Sweep.id.desc()))]


@router.get("/{sweep_id}", response_model=SweepOut)
def get_sweep(sweep_id: JobId, session: ReadSessionDep) -> SweepOut:
    return sweep_view(session, _get(session, sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepOut)
def cancel_sweep(sweep_id: JobId, session: SessionDep, settings: SettingsDep) -> SweepOut:
    """Queued trials end now, running ones at their next batch; no new trial is asked."""
    sweep = _get(session, sweep_id)
    if sweep.status == "running":
        sweep.status = "cancelling"  # the sweeper tells the study, then calls it cancelled
    for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id)):
        if not job.status.ended:
            jobs.request_cancel(session, job)
    session.flush()
    return sweep_view(session, sweep)


@router.get("/{sweep_id}/plot.png", response_class=Response, responses=PNG)
def sweep_plot(sweep_id: JobId, session: ReadSessionDep) -> Response:
    """Every trial's test accuracy by epoch; pruned trials dashed and grey."""
    sweep = _get(session, sweep_id)
    request = SweepRequest.model_validate(sweep.request)
    series = []
    for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial)):
        rows = [{"epoch": m.epoch, "test_accuracy": m.test_accuracy} for m in jobs.metrics_of(session, job.id)]
        label = ", ".join(f"{name}={_short(_param(job, name))}" for name in _varied(request))
        series.append((f"#{job.trial} {label}", job.status.value == "pruned", rows))
    return Response(plots.sweep_curves(series, title=f"sweep {sweep.id}: {sweep.name}"), media_type="image/png")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@router.get("/{sweep_id}/params.png", response_class=Response, responses=PNG)
def sweep_params_plot(sweep_id: JobId, session: ReadSessionDep) -> Response:
    """Each trial's best test accuracy against each setting the sweep varies (pruned trials as grey crosses)."""
    sweep = _get(session, sweep_id)
    request = SweepRequest.model_validate(sweep.request)
    space = request.search.space if request.search is not None else {}
    settings = [(name, bool(getattr(space.get(name), "log", False))) for name in _varied(request)]
    points = [({name: _param(job, name) for name, _ in settings}, job.best_test_accuracy, job.status.value == "pruned")
              for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial))
              if job.best_test_accuracy is not None]
    return Response(plots.sweep_params(settings, points, title=f"sweep {sweep.id}: {sweep.name}"),
                    media_type="image/png")
