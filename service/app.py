"""The app factory: its lifespan opens the AppState (engines, caches, registry) and closes it."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from mnistlab import __version__
from mnistlab.settings import Settings
from service.auth import ApiKeyMiddleware, open_without_key
from service.errors import DomainError, database_unavailable_handler, domain_error_handler, http_error_handler
from service.fast_lane import FastLane
from service.metrics import (
    METRICS_DIR_VARIABLE,
    ApiMetrics,
    DatabaseCollector,
    HttpMetricsMiddleware,
)
from service.routes import (
    analysis,
    dashboard,
    events,
    explore,
    explain,
    exports,
    figures,
    health,
    inference_v2,
    jobs,
    metrics,
    models,
    predict,
    session,
    spec,
    sweeps,
)
from service.sessions import COOKIE, session_signer
from service.state import AppState
from service.sweeper import sweep_forever


def create_app(settings: Settings | None = None, *, freeze_after_startup: bool = False) -> FastAPI:
    settings = settings or Settings()
    api_metrics = ApiMetrics(multiprocess_dir=os.environ.get(METRICS_DIR_VARIABLE))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.open(settings, api_metrics)
        app.state.mnistlab = state  # the only attribute: routes reach it through service/deps.py
        database_figures = DatabaseCollector(state.reads, heartbeat_timeout=settings.heartbeat_timeout)
        api_metrics.scraped.register(database_figures)
        sweeper = asyncio.create_task(sweep_forever(state.sessions, state.reads, state.studies, settings))
        background = [sweeper, asyncio.create_task(state.events.run())]
        if freeze_after_startup:
            # What start-up made (torch, FastAPI, SQLAlchemy) lives as long as the process: out of the garbage
            # collector's sight, its full collections stop stalling requests (p99 at 32 connections:
            # 115-158 -> 9-19 ms). Only for a serving process: tests make many apps in one.
            gc.freeze()
            # A serving process loads the default models at once, off the event loop: their first onnxruntime
            # export (1-3 s) then happens before most first requests, not during one.
            threading.Thread(target=state.registry.warm_defaults, name="warm-defaults", daemon=True).start()
        yield
        for task in background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        api_metrics.scraped.unregister(database_figures)
        state.close()

    # FastAPI's native OpenTelemetry off: mnistlab reports through Prometheus (/metrics), and its per-request
    # provider look-ups cost a one-image prediction measurable time.
    # /docs and /redoc are the dashboard router's: they load Swagger UI and ReDoc from this service, not a CDN.
    app = FastAPI(title="mnistlab", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Train and serve small PyTorch classifiers for MNIST and Fashion-MNIST.")
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(OperationalError, database_unavailable_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    # Innermost of ours: the key check and the metrics still see what the lane answers.
    app.add_middleware(FastLane, lanes=[*predict.LANES, *inference_v2.LANES])
    if settings.key is not None:
        app.add_middleware(ApiKeyMiddleware, key=settings.key, public_predict=settings.public_predict,
                           signer=session_signer(settings))
        app.openapi = document_security(app.openapi, public_predict=settings.public_predict)  # type: ignore[method-assign]
    if settings.allowed_origins:  # added last: it runs first, so preflight requests need no key
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"])
    # Outermost: it also counts what the key and CORS checks answer themselves.
    app.add_middleware(HttpMetricsMiddleware, metrics=api_metrics)
    # The prediction routes first: routes are matched in order, and theirs are the hot paths.
    for module in (predict, inference_v2, explain, health, spec, jobs, sweeps, events, models, exports, explore, figures, analysis,
                   dashboard, session, metrics):
        app.include_router(module.router)
    dashboard.mount_static(app)
    return app


def document_security(openapi: Callable[[], dict], *, public_predict: bool) -> Callable[[], dict]:
    """FastAPI's OpenAPI schema, saying also that every operation takes the Bearer key or the session cookie,
    except those open to all (service/auth.py decides which, for both)."""
    def with_security() -> dict:
        schema = openapi()  # FastAPI's, made once and kept
        if "security" not in schema:
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <MNISTLAB_API_KEY>"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE,
                            "description": "what POST /session sets in a browser"}}
            schema["security"] = [{"bearer": []}, {"session": []}]
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    if open_without_key(method.upper(), path, public_predict=public_predict):
                        operation["security"] = []  # open: no credentials needed
        return schema

    return with_security


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory service.app:app_from_environment`."""
    return create_app()
