"""Request dependencies: the app's state and its parts, and database sessions opened one way.

`SessionDep` is a write transaction that commits when the route returns (before the response is sent)
and rolls back on an error; `ReadSessionDep` reads without taking SQLite's write lock. Long-lived
streams take `ReadSessionsDep`, the factory, and open a short read per look.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from mnistlab.settings import Settings
from service.evaluation import DataCache, Evaluator
from service.exports import ModelExporter
from service.figure_cache import FigureCache
from service.metrics import ApiMetrics
from service.registry import ModelRegistry
from service.state import AppState


# async: FastAPI would run a plain `def` dependency in its thread pool, a hop that costs /predict
# more than the model's forward pass (measured: 1,550 -> 690 images/s with four such hops).
async def get_state(request: Request) -> AppState:
    return request.app.state.mnistlab


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions.begin() as session:
        yield session


def get_read_session(state: StateDep) -> Iterator[Session]:
    with state.reads() as session:
        yield session


# scope="function": the transaction ends when the route returns, so a client that gets the answer
# finds its change committed, and a failed commit is still this request's error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


def _part(name: str):  # type: ignore[no-untyped-def]
    """A dependency giving one part of the app's state."""
    async def get(state: StateDep) -> object:
        return getattr(state, name)

    get.__name__ = f"get_{name}"
    return Depends(get)


ReadSessionsDep = Annotated[sessionmaker, _part("reads")]
SettingsDep = Annotated[Settings, _part("settings")]
RegistryDep = Annotated[ModelRegistry, _part("registry")]
ExporterDep = Annotated[ModelExporter, _part("exporter")]
DataDep = Annotated[DataCache, _part("data")]
EvaluatorDep = Annotated[Evaluator, _part("evaluator")]
MetricsDep = Annotated[ApiMetrics, _part("metrics")]
FiguresDep = Annotated[FigureCache, _part("figures")]
