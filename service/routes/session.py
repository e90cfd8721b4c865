"""Signing a browser in and out where an API key is required (service/sessions.py says how)."""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from service.deps import StateDep
from service.errors import Conflict, Forbidden, Invalid, TooManyRequests, Unauthorized
from service.schemas import error_responses
from service.sessions import COOKIE, same_origin

router = APIRouter(tags=["session"], responses=error_responses(401, 403, 409, 422, 429))
WRONG_KEY_DELAY = 1.0  # seconds a wrong key waits for its answer: guessing gets slow, other requests do not
KEY_FIELD = {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "minLength": 1}}}
BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": KEY_FIELD},
                                                      "application/x-www-form-urlencoded": {"schema": KEY_FIELD}}}}


async def _given_key(request: Request) -> tuple[str, bool]:
    """The key typed in, and whether it came from a plain HTML form (answered with a redirect)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get("key")
        form = True
    else:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise Invalid(("body",), "send JSON {\"key\": \"...\"} or a form with a field named key") from None
        value, form = body.get("key") if isinstance(body, dict) else None, False
    if not isinstance(value, str) or not value:
        raise Invalid(("body", "key"), "the API key is missing: send {\"key\": \"...\"}")
    return value, form


@router.get("/session")
async def session_status(request: Request, state: StateDep) -> dict:
    """Whether this server needs a key, and whether this browser is signed in."""
    signer = state.signer
    cookie = request.cookies.get(COOKIE)
    return {"key_required": signer is not None, "signed_in": bool(signer and cookie and signer.valid(cookie))}


@router.post("/session", openapi_extra=BODY)
async def sign_in(request: Request, state: StateDep) -> Response:
    """Sign a browser in with the API key: a session cookie (HttpOnly, SameSite=Strict) for MNISTLAB_SESSION_HOURS."""
    settings, signer = state.settings, state.signer
    if signer is None or settings.key is None:
        raise Conflict("this server has no API key (MNISTLAB_API_KEY): there is nothing to sign in to")
    if not same_origin(request.headers.raw):
        raise Forbidden("cross-site sign-in refused: sign in from this site's own page")
    address = request.client.host if request.client else "unknown"
    # Counted before the body is read: a client cannot open many requests and send their keys later.
    if wait := await run_in_threadpool(state.sign_in_guard.attempt, address):
        raise TooManyRequests(f"too many sign-in attempts from {address}: try again in {wait} s", retry_after=wait)
    given, form = await _given_key(request)
    if not hmac.compare_digest(given.encode(), settings.key.encode()):
        state.metrics.signin_failures.inc()
        await asyncio.sleep(WRONG_KEY_DELAY)
        raise Unauthorized("wrong API key")
    await run_in_threadpool(state.sign_in_guard.forgive, address)
    value, expires = signer.issue()
    response: Response
    if form:
        response = RedirectResponse("/", status_code=303)
    else:
        response = JSONResponse({"signed_in": True, "expires_at": datetime.fromtimestamp(expires, UTC).isoformat()})
    response.set_cookie(COOKIE, value, max_age=signer.max_age, httponly=True, samesite="strict", path="/",
                        secure=settings.cookie_secure or request.url.scheme == "https")
    return response


@router.delete("/session")
async def sign_out(request: Request, state: StateDep) -> Response:
    """Sign this browser out: its session cookie is cleared."""
    response = JSONResponse({"signed_in": False})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=state.settings.cookie_secure or request.url.scheme == "https")
    return response
