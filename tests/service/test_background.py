"""The API's background tasks give their database connections back before the app disposes its engines."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.background import in_thread


def test_a_cancelled_background_task_ends_only_after_its_thread_has_finished() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def read_the_database() -> None:  # stands for a query holding a pooled connection
        started.set()
        release.wait(timeout=30)
        finished.set()

    async def cancel_mid_read() -> bool:
        task = asyncio.create_task(in_thread(read_the_database))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()
        threading.Timer(0.3, release.set).start()  # the read ends a moment after the cancel
        with pytest.raises(asyncio.CancelledError):
            await task
        return finished.is_set()  # what the app's shutdown sees when the task has ended

    assert asyncio.run(cancel_mid_read()), "the task ended while its thread still held the connection"
