"""Sweeps: a grid or an Optuna search over job settings, its leaderboard and its picture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from mnistlab import jobs, sweeps
from mnistlab.sweep_spec import SweepRequest
from mnistlab.tables import Job, Sweep
from service import plots
from service.deps import FiguresDep, ReadSessionDep, SessionDep, StateDep
from service.errors import Invalid, NotFound
from service.schemas import JobId, SweepOut, error_responses
from service.views import sweep_param, sweep_view, varied_settings

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=error_responses(404))
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


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
def cancel_sweep(sweep_id: JobId, session: SessionDep) -> SweepOut:
    """Queued trials end now, running ones at their next batch; no new trial is asked."""
    sweep = _get(session, sweep_id)
    sweeps.request_cancel(session, sweep)
    return sweep_view(session, sweep)


@router.get("/{sweep_id}/plot.png", response_class=Response, responses=PNG)
def sweep_plot(sweep_id: JobId, session: ReadSessionDep, figures: FiguresDep) -> Response:
    """Every trial's test accuracy by epoch; pruned trials dashed and grey."""
    sweep = _get(session, sweep_id)
    request = SweepRequest.model_validate(sweep.request)
    series = []
    for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial)):
        rows = [{"epoch": m.epoch, "test_accuracy": m.test_accuracy} for m in jobs.metrics_of(session, job.id)]
        label = ", ".join(f"{name}={_short(sweep_param(job, name))}" for name in varied_settings(request))
        series.append((f"#{job.trial} {label}", job.status.value == "pruned", rows))
    return Response(figures.png(plots.sweep_curves, series, title=f"sweep {sweep.id}: {sweep.name}"),
                    media_type="image/png")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@router.get("/{sweep_id}/params.png", response_class=Response, responses=PNG)
def sweep_params_plot(sweep_id: JobId, session: ReadSessionDep, figures: FiguresDep) -> Response:
    """Each trial's best test accuracy against each setting the sweep varies (pruned trials as grey crosses)."""
    sweep = _get(session, sweep_id)
    request = SweepRequest.model_validate(sweep.request)
    space = request.search.space if request.search is not None else {}
    settings = [(name, bool(getattr(space.get(name), "log", False))) for name in varied_settings(request)]
    points = [({name: sweep_param(job, name) for name, _ in settings}, job.best_test_accuracy, job.status.value == "pruned")
              for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial))
              if job.best_test_accuracy is not None]
    return Response(figures.png(plots.sweep_params, settings, points, title=f"sweep {sweep.id}: {sweep.name}"),
                    media_type="image/png")
