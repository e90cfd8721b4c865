"""What the API process holds for its lifetime, in one typed object (routes reach it through service/deps.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from mnistlab import schema
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from mnistlab.sweeps import StudyStorage
from service.evaluation import DataCache, Evaluator
from service.exports import ModelExporter
from service.figure_cache import FigureCache
from service.live_events import Broadcaster
from service.metrics import ApiMetrics
from service.prediction import PredictionPipeline
from service.registry import ModelRegistry
from service.sessions import SessionSigner, SignInGuard, session_signer


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    read_engine: Engine
    sessions: sessionmaker  # writes: on SQLite every transaction takes the write lock up front
    reads: sessionmaker     # reads: never wait for the write lock, refuse to write
    registry: ModelRegistry
    pipeline: PredictionPipeline
    data: DataCache
    evaluator: Evaluator
    metrics: ApiMetrics
    studies: StudyStorage  # Optuna's storage for sweeps, opened on first use
    exporter: ModelExporter
    events: Broadcaster  # live events: one reader for every watcher of this process
    signer: SessionSigner | None  # browser sessions, where an API key is required
    sign_in_guard: SignInGuard
    figures: FigureCache  # rendered PNGs by what they show

    @classmethod
    def open(cls, settings: Settings, metrics: ApiMetrics) -> "AppState":
        settings.ensure_dirs()
        engine = make_engine(settings.db_url)
        schema.upgrade(engine)
        read_engine = make_engine(settings.db_url, read_only=True)
        sessions, reads = make_sessions(engine), make_sessions(read_engine)
        metrics.count_transactions(engine, "write")
        metrics.count_transactions(read_engine, "read")
        exporter = ModelExporter(settings.checkpoint_dir)
        registry = ModelRegistry(settings=settings, reads=reads, exporter=exporter)
        data = DataCache(settings)
        return cls(settings=settings, engine=engine, read_engine=read_engine, sessions=sessions, reads=reads,
                   registry=registry, pipeline=PredictionPipeline(metrics, max_pixels=settings.max_pixels),
                   data=data, evaluator=Evaluator(data), metrics=metrics, studies=StudyStorage(settings.db_url),
                   exporter=exporter, events=Broadcaster(settings, reads, metrics),
                   signer=session_signer(settings), sign_in_guard=SignInGuard(sessions),
                   figures=FigureCache())

    def close(self) -> None:
        self.studies.close()
        self.engine.dispose()
        self.read_engine.dispose()
