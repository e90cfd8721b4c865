"""The hot routes served without FastAPI's router, dependency solver and per-route middleware.

For a one-image prediction those cost more than decoding and classifying it (measured on 2 cores:
route matching, dependency solving and telemetry look-ups were about half of the CPU time of an OIP
infer). `FastLane` answers the routes it knows straight from the ASGI scope, calling the very
endpoint functions the FastAPI routes declare (so OpenAPI documents them, and there is one handler);
every other request goes on to FastAPI. It sits inside the API-key and metrics middleware, so both
still see every request, and it puts itself in the scope as the route, so metrics label by its template.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.state import AppState


@dataclass(frozen=True)
class Lane:
    method: str
    pattern: re.Pattern[str]  # named groups: the path parameters
    path: str                 # the documented route's template, e.g. /v2/models/{name}/infer
    call: Callable[[Request, AppState, dict[str, str]], Awaitable[Response]]
    # A route class's own error answers (its 4xx shapes; None: not one of its errors). Unset: the app's
    # exception handlers answer, as they would for the documented route.
    answer_error: Callable[[Exception], Response | None] | None = None


class FastLane:
    def __init__(self, app: ASGIApp, *, lanes: Sequence[Lane]) -> None:
        self.app, self._lanes = app, tuple(lanes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for lane in self._lanes:
                if scope["method"] == lane.method and (match := lane.pattern.fullmatch(scope["path"])):
                    await self._serve(lane, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, lane: Lane, params: dict[str, str], scope: Scope, receive: Receive, send: Send) -> None:
        app: FastAPI = scope["app"]
        scope["route"] = lane  # what the metrics middleware labels by: its `path`, the template
        request = Request(scope, receive, send)
        try:
            response = await lane.call(request, app.state.mnistlab, params)
        except Exception as error:
            answer = lane.answer_error(error) if lane.answer_error else await _app_answer(app, request, error)
            if answer is None:
                raise
            response = answer
        await response(scope, receive, send)


async def _app_answer(app: FastAPI, request: Request, error: Exception) -> Response | None:
    """What the app's exception handler for this kind of error answers (None: it has none)."""
    for kind in type(error).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            return await handler(request, error)
    return None
