"""Reading never waits for SQLite's write lock, and the read-only sessions refuse to write."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from mnistlab.settings import Settings
from mnistlab.tables import Job
from tests.helpers.jobs import DEFAULTS_JOB

READ_ONLY_REQUESTS = ["/jobs", "/jobs/1", "/jobs/1/metrics", "/jobs/1/plot.png", "/jobs/1/events", "/compare?jobs=1",
                      "/models", "/metrics", "/spec", "/datasets", "/health"]


@contextmanager
def write_lock_held(settings: Settings) -> Iterator[None]:
    """What a worker recording an epoch does: hold SQLite's write lock (BEGIN IMMEDIATE) for a while."""
    connection = sqlite3.connect(settings.db_url.removeprefix("sqlite:///"), isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def answered_while_locked(client: TestClient, settings: Settings, path: str) -> int | None:
    """The status `path` got while another connection held the write lock; None if it had to wait for it."""
    result: list[int] = []

    def get() -> None:
        if path.endswith("/events"):  # the stream's first look is what could wait: read its 200, then stop
            with client.stream("GET", path) as response:
                result.append(response.status_code)
        else:
            result.append(client.get(path).status_code)

    with write_lock_held(settings):
        thread = threading.Thread(target=get, daemon=True)
        thread.start()
        # A request that needs the lock waits on the busy timeout (60 s): 20 s without an answer means it waits.
        thread.join(timeout=20)
        answered = result[0] if result else None
    thread.join()  # once the lock is gone it finishes either way
    return answered


@pytest.mark.parametrize("path", READ_ONLY_REQUESTS)
def test_reads_are_answered_while_a_writer_holds_the_lock(client: TestClient, settings: Settings, path: str) -> None:
    client.post("/jobs", json={**DEFAULTS_JOB, "epochs": 1})
    client.post("/jobs/1/cancel")  # ended, so its event stream ends too
    assert answered_while_locked(client, settings, path) == 200


def test_a_write_still_waits_for_the_lock_and_then_succeeds(client: TestClient, settings: Settings) -> None:
    """The contrast that shows the test above can fail: a POST does need the lock."""
    assert answered_while_locked(client, settings, "/jobs") == 200
    result: list[int] = []
    with write_lock_held(settings):
        thread = threading.Thread(target=lambda: result.append(client.post("/jobs", json=DEFAULTS_JOB).status_code))
        thread.start()
        thread.join(timeout=2)
        assert result == []  # still waiting for the writer
    thread.join()
    assert result == [201]


def test_a_read_session_refuses_to_write(client: TestClient) -> None:
    client.post("/jobs", json=DEFAULTS_JOB)
    reads = client.app.state.mnistlab.reads  # type: ignore[attr-defined]
    with reads() as session, pytest.raises(OperationalError, match="readonly"):
        session.execute(update(Job).values(epochs=5))
