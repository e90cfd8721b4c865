"""Blocking work of the API's background tasks (the sweeper, the event watcher), run in a thread to completion.

Cancelling a task does not stop the thread it waits on. At shutdown the app cancels its background tasks and
then disposes its database engines: a thread still reading would hand its connection back to a pool already
disposed, where nothing closes it. So a cancelled task here first waits for its thread to finish."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    work = asyncio.ensure_future(run_in_threadpool(function, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
