"""API-key check as a plain ASGI middleware (cheap enough for the /predict hot path)."""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_ALWAYS = {("GET", "/health"), ("HEAD", "/health")}
OPEN_WHEN_PUBLIC_PREDICT = {("POST", "/predict"), ("GET", "/models"), ("HEAD", "/models")}
INFERENCE_PROTOCOL = "/v2"  # the Open Inference Protocol only reads models and predicts: public with /predict


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, key: str, public_predict: bool) -> None:
        self.app = app
        self._expected = f"Bearer {key}".encode()
        self._open = OPEN_ALWAYS | (OPEN_WHEN_PUBLIC_PREDICT if public_predict else set())
        self._public_protocol = public_predict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        protocol = self._public_protocol and (path == INFERENCE_PROTOCOL or path.startswith(INFERENCE_PROTOCOL + "/"))
        if scope["type"] != "http" or (scope["method"], path) in self._open or scope["method"] == "OPTIONS" or protocol:
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        # compare_digest: the time taken does not tell how much of a guessed key was right.
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        message = "missing or wrong API key: send 'Authorization: Bearer <MNISTLAB_API_KEY>'"
        body = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
