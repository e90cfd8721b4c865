"""Browser sessions where an API key is required: a signed cookie stands in for the Bearer header.

Browsers cannot add `Authorization` to a page load or an EventSource, so the person types the key once
(POST /session) and gets a cookie: `expiry.nonce.signature`, signed with a key derived from the API key
(rotating the API key signs everyone out), valid for MNISTLAB_SESSION_HOURS. `SignInGuard` slows and
counts wrong keys and refuses an address that keeps guessing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from urllib.parse import urlsplit

from mnistlab.settings import Settings

COOKIE = "mnistlab_session"
FAILURES_PER_MINUTE = 10  # wrong keys from one address before it is refused for a minute
WINDOW = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionSigner:
    def __init__(self, api_key: str, *, hours: float) -> None:
        self._secret = hmac.new(api_key.encode(), b"mnistlab session cookie v1", hashlib.sha256).digest()
        self.max_age = int(hours * 3600)

    def _signature(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, now: float | None = None) -> tuple[str, int]:
        """A new cookie value and its expiry (Unix seconds)."""
        expires = int((time.time() if now is None else now) + self.max_age)
        payload = f"{expires}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._signature(payload)}", expires

    def valid(self, value: str, now: float | None = None) -> bool:
        payload, _, signature = value.rpartition(".")
        expires = payload.partition(".")[0]
        if not expires.isdigit() or not hmac.compare_digest(signature, self._signature(payload)):
            return False
        return int(expires) > (time.time() if now is None else now)


def session_signer(settings: Settings) -> SessionSigner | None:
    """The signer of this server's session cookies; None without an API key (no sign-in then)."""
    return None if settings.key is None else SessionSigner(settings.key, hours=settings.session_hours)


class SignInGuard:
    """Wrong keys per client address over the last minute; 10 of them and the address waits out the minute."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures[address]
        while failures and failures[0] <= now - WINDOW:
            failures.popleft()
        if not failures:
            del self._failures[address]  # bounded: only addresses with recent failures are kept
            return deque()
        return failures

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds this address must wait before trying again (0: it may try now)."""
        now = time.monotonic() if now is None else now
        failures = self._recent(address, now)
        if len(failures) < FAILURES_PER_MINUTE:
            return 0
        return max(1, int(failures[-FAILURES_PER_MINUTE] + WINDOW - now + 0.999))

    def failed(self, address: str, now: float | None = None) -> None:
        self._failures[address].append(time.monotonic() if now is None else now)


def cookie_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, cookie = part.strip().partition("=")
                if key == COOKIE:
                    return cookie
    return None


def same_origin(headers: list[tuple[bytes, bytes]]) -> bool:
    """A browser's request from this site itself: Origin names our own host (the scheme may differ behind a
    TLS-terminating proxy), or, without Origin, Sec-Fetch-Site says same-origin. A request with neither
    did not come from another site's page."""
    found = {name: value.decode("latin-1") for name, value in headers
             if name in (b"origin", b"host", b"sec-fetch-site")}
    origin = found.get(b"origin")
    if origin is not None and origin != "null":
        return urlsplit(origin).netloc == found.get(b"host", "")
    if origin == "null":
        return False
    return found.get(b"sec-fetch-site", "same-origin") in ("same-origin", "none")
