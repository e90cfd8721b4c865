"""Follow a job's Server-Sent Events, reconnecting with `Last-Event-ID` after a dropped connection.

The server numbers each finished epoch (`id: epoch-N`) and resumes after the id it is given, so a
reconnect neither loses nor repeats an epoch; `progress` events carry no id (the next one replaces them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
from httpx_sse import EventSource

from mnistlab.client.errors import ServerUnavailable
from mnistlab.client.records import Event

RECONNECT_FOR = 60.0  # seconds of failed reconnects before giving up: a restarting server comes back sooner
KEEPALIVE_GRACE = 60.0  # the server comments every 15 s on an idle stream: 60 s of silence is a dead one


def follow(open_stream: Callable[[dict[str, str]], httpx.Response], *, url: str,
           last_event_id: str | None = None, check: Callable[[httpx.Response], None],
           deadline: float | None = None) -> Iterator[Event]:
    """Events until (and including) the final `status`. `open_stream(headers)` starts one GET."""
    retry, failing_since, connected = 2.0, None, False
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        try:
            response = open_stream(headers)
            connected = True
            try:
                check(response)
                for sse in EventSource(response).iter_sse():
                    failing_since = None
                    if sse.retry:
                        retry = sse.retry / 1000
                    if sse.id:
                        last_event_id = sse.id
                    if not sse.data:  # a `retry:` alone: nothing to dispatch (the SSE spec's rule)
                        continue
                    event = Event(sse.event, json.loads(sse.data), sse.id or None)
                    yield event
                    if event.kind == "status":
                        return
            finally:
                response.close()
        except httpx.TransportError as error:
            if not connected or (deadline is not None and time.monotonic() >= deadline):
                raise  # never reached the server, or out of time: the caller says which
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > RECONNECT_FOR:
                raise ServerUnavailable(url, f"lost the event stream at {url} and could not reconnect for "
                                             f"{RECONNECT_FOR:.0f}s: {error}") from error
        # A stream that ended without a final status was cut (a proxy, a restart): resume after a pause.
        time.sleep(retry if deadline is None else max(0.0, min(retry, deadline - time.monotonic())))
