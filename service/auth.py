"""API-key check as a plain ASGI middleware (cheap enough for the /predict hot path).

A request passes with `Authorization: Bearer <key>` (programs) or a valid session cookie (browsers, see
service/sessions.py). A cookie-authenticated request that changes something must come from this site's
own pages (Origin / Sec-Fetch-Site): another site cannot post jobs through a signed-in browser. A browser
asking for a page (`/`, `/docs`, `/redoc`) without either gets the sign-in page instead of JSON.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from service.sessions import SAFE_METHODS, SessionSigner, cookie_from, same_origin

OPEN_ALWAYS = {("GET", "/health"), ("HEAD", "/health"), ("GET", "/session"), ("POST", "/session"),
               ("DELETE", "/session")}
OPEN_WHEN_PUBLIC_PREDICT = {("POST", "/predict"), ("GET", "/models"), ("HEAD", "/models")}
INFERENCE_PROTOCOL = "/v2"  # the Open Inference Protocol only reads models and predicts: public with /predict
PAGES = {"/", "/docs", "/redoc"}  # what a person opens in a browser: without a session, the sign-in page
SIGN_IN_PAGE = (Path(__file__).parent / "static" / "signin.html").read_bytes()


def open_without_key(method: str, path: str, *, public_predict: bool) -> bool:
    """Whether a request passes without the key: the one rule for the check below and for the OpenAPI document."""
    if (method, path) in OPEN_ALWAYS or method == "OPTIONS":
        return True
    return public_predict and ((method, path) in OPEN_WHEN_PUBLIC_PREDICT or path == INFERENCE_PROTOCOL
                               or path.startswith(INFERENCE_PROTOCOL + "/"))


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, *, key: str, public_predict: bool, signer: SessionSigner) -> None:
        self.app = app
        self._expected = f"Bearer {key}".encode()
        self._public_predict = public_predict
        self._signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or open_without_key(scope["method"], path, public_predict=self._public_predict):
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        given = next((value for name, value in headers if name == b"authorization"), b"")
        # compare_digest: the time taken does not tell how much of a guessed key was right.
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        cookie = cookie_from(headers)
        if cookie is not None and self._signer.valid(cookie):
            if scope["method"] in SAFE_METHODS or same_origin(headers):
                await self.app(scope, receive, send)
                return
            await _answer(send, 403, {"detail": "cross-site request refused: a request signed in by cookie that "
                                                "changes something must come from this site's own pages"})
            return
        if scope["method"] in ("GET", "HEAD") and path in PAGES and _wants_html(headers):
            await _answer_page(send)
            return
        message = "missing or wrong API key: send 'Authorization: Bearer <MNISTLAB_API_KEY>'"
        if cookie is not None:
            message = "the session has expired or is not valid (the key may have changed): sign in again"
        await _answer(send, 401, {"detail": message}, [(b"www-authenticate", b"Bearer")])


def _wants_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"accept" and b"text/html" in value for name, value in headers)


async def _answer(send: Send, status: int, body: dict, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": data})


async def _answer_page(send: Send) -> None:
    """401 with the sign-in page: a browser shows it; the status still says what happened."""
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(SIGN_IN_PAGE)).encode()),
        (b"cache-control", b"no-store"), (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": SIGN_IN_PAGE})
