"""The app factory: engine and caches live on app.state for the app's lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from mnistlab import schema
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from service.auth import ApiKeyMiddleware
from service.errors import DomainError, domain_error_handler
from service.metrics import ApiMetrics, DatabaseCollector, HttpMetricsMiddleware
from service.predictor import ModelCache
from service.registry import DefaultsCache
from service.sweeper import sweep_forever
from service.evaluation import DataCache, Evaluator
from service.routes import analysis, dashboard, events, explore, figures, health, jobs, metrics, models, predict


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    api_metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_dirs()
        engine = make_engine(settings.db_url)
        schema.upgrade(engine)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = make_sessions(engine)
        app.state.models = ModelCache()
        app.state.defaults = DefaultsCache(app.state.sessions)
        app.state.data = DataCache(settings)
        app.state.evaluator = Evaluator(app.state.data)
        app.state.metrics = api_metrics
        database_figures = DatabaseCollector(app.state.sessions, heartbeat_timeout=settings.heartbeat_timeout)
        api_metrics.registry.register(database_figures)
        sweeper = asyncio.create_task(sweep_forever(app.state.sessions, settings))
        yield
        sweeper.cancel()
        with suppress(asyncio.CancelledError):
            await sweeper
        api_metrics.registry.unregister(database_figures)
        engine.dispose()

    app = FastAPI(title="mnistlab", version="0.1.0", lifespan=lifespan,
                  description="Train and serve small PyTorch classifiers for MNIST and Fashion-MNIST.")
    app.add_exception_handler(DomainError, domain_error_handler)
    if settings.key is not None:
        app.add_middleware(ApiKeyMiddleware, key=settings.key, public_predict=settings.public_predict)
    if settings.allowed_origins:  # added last: it runs first, so preflight requests need no key
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"])
    # Outermost: it also counts what the key and CORS checks answer themselves.
    app.add_middleware(HttpMetricsMiddleware, metrics=api_metrics)
    for module in (health, jobs, events, predict, models, explore, figures, analysis, dashboard, metrics):
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory service.app:app_from_environment`."""
    return create_app()
