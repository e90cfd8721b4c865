"""Domain errors carry their HTTP status; one handler turns them into JSON."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from mnistlab.logs import first_line

log = logging.getLogger(__name__)
DATABASE_RETRY_AFTER = 5  # seconds: a restarting database is usually back within a few


class DomainError(Exception):
    status_code = 400
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only: subclasses set their own)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> object:
        return self.message


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    """A 422 shaped like FastAPI's own validation errors, naming the offending field."""

    status_code = 422

    def __init__(self, location: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.location = location

    def body(self) -> object:
        return [{"loc": list(self.location), "msg": self.message, "type": "value_error"}]


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class RetryLater(DomainError):
    """An answer that says when to try again (Retry-After, seconds)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class TooManyRequests(RetryLater):
    status_code = 429


class PayloadTooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415


class Unavailable(RetryLater):
    status_code = 503


async def domain_error_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return JSONResponse({"detail": error.body()}, status_code=error.status_code, headers=error.headers)


async def database_unavailable_handler(request: Request, error: Exception) -> JSONResponse:
    """The database is away (restarting, unreachable) or too busy: 503 with Retry-After, not a 500. The
    engines ping pooled connections before use, so the first request after it returns reconnects."""
    assert isinstance(error, OperationalError)
    log.warning("%s %s: the database is unavailable: %s", request.method, request.url.path, first_line(error))
    return JSONResponse({"detail": f"the database is unavailable ({first_line(error.orig or error)}): try again in "
                                   f"{DATABASE_RETRY_AFTER} s"},
                        status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER)})


async def http_error_handler(request: Request, error: Exception) -> Response:
    """FastAPI's answer to HTTP errors, but a 405 lists in `Allow` every method the API documents at this
    path: Starlette names only those of the first route it matched (GET /sweeps and POST /sweeps are two)."""
    assert isinstance(error, HTTPException)
    if error.status_code != 405:
        return await http_exception_handler(request, error)
    allowed = sorted({method for pattern, methods in _documented_methods(request.app)
                      if pattern.match(request.url.path) for method in methods})
    return JSONResponse({"detail": f"{request.method} is not allowed on {request.url.path}: use {', '.join(allowed)}"},
                        status_code=405, headers={"Allow": ", ".join(allowed)})


def _documented_methods(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each documented path as a pattern, with its methods; made from the OpenAPI document once per app."""
    if not hasattr(app.state, "documented_methods"):
        app.state.documented_methods = [
            (re.compile("^" + "".join("[^/]+" if part.startswith("{") else re.escape(part)
                                      for part in re.split(r"(\{[^}]+\})", path)) + "$"),
             {method.upper() for method in operations})
            for path, operations in app.openapi()["paths"].items()]
    return app.state.documented_methods
