"""Browser sessions where an API key is required: a signed cookie stands in for the Bearer header.

Browsers cannot add `Authorization` to a page load or an EventSource, so the person types the key once
(POST /session) and gets a cookie: `expiry.nonce.signature`, signed with a key derived from the API key
(rotating the API key signs everyone out), valid for MNISTLAB_SESSION_HOURS. `SignInGuard` counts sign-in
attempts in the database and refuses an address that keeps guessing; a wrong key is answered slowly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from urllib.parse import urlsplit

from sqlalchemy import case, delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker

from mnistlab.settings import Settings
from mnistlab.tables import SignInAttempts

COOKIE = "mnistlab_session"
FAILURES_PER_MINUTE = 10  # sign-in attempts (right keys aside) from one address before it is refused for a minute
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
    """Sign-in attempts per client address, counted in the database before the key is read: every API process
    and host shares one count, and requests that send their bodies late are counted all the same. Ten in a
    minute and the address waits out the minute (429); an attempt with the right key is not held against it."""

    def __init__(self, sessions: sessionmaker) -> None:
        self._sessions = sessions

    def attempt(self, address: str, now: float | None = None) -> int:
        """Count one attempt from `address`: the seconds it must wait (0: it may go on)."""
        now = time.time() if now is None else now
        table = SignInAttempts.__table__
        over = table.c.window_start <= now - WINDOW  # the stored minute has passed
        with self._sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table).values(
                address=address, window_start=now, attempts=1)
            # One statement, so two processes counting at once both count (no read-then-write race).
            statement = statement.on_conflict_do_update(index_elements=[table.c.address], set_={
                "attempts": case((over, 1), else_=table.c.attempts + 1),
                "window_start": case((over, now), else_=table.c.window_start)})
            attempts, start = session.execute(statement.returning(table.c.attempts, table.c.window_start)).one()
            session.execute(delete(table).where(over))  # other addresses' past minutes: the table stays small
        if attempts <= FAILURES_PER_MINUTE:
            return 0
        return max(1, math.ceil(start + WINDOW - now))

    def forgive(self, address: str) -> None:
        """The right key: this attempt does not count."""
        table = SignInAttempts.__table__
        with self._sessions.begin() as session:
            session.execute(update(table).where(table.c.address == address, table.c.attempts > 0)
                            .values(attempts=table.c.attempts - 1))


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
