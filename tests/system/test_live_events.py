"""Live events from one reader per API process: many followers, the stream of everything, the stream
limit, a reader that stops reading, and PostgreSQL's NOTIFY instead of polling (issue 16)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from mnistlab import jobs
from mnistlab.db import make_engine, make_sessions, utcnow
from mnistlab.settings import Settings
from mnistlab.spec import JobRequest, JobStatus
from mnistlab.tables import Job
from service.live_events import DROPPED, QUEUE_EVENTS, Event, Subscription
from tests.helpers.postgres import both_databases
from tests.helpers.servers import (
    LiveServer,
    Processes,
    make_settings,
    module_server,
    start_server,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.datasets]
JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "batch_size": 128, "seed": 7}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[tuple[LiveServer, Settings]]:
    """One server with a worker for the tests that follow their own jobs (each waits for its job to end)."""
    with module_server(tmp_path_factory.mktemp("events") / "home", small_data_dir) as running:
        yield running


def _scrape(server: LiveServer, name: str, labels: str = "") -> float:
    text = server.http.get("/metrics").text
    match = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(match[1]) if match else 0.0


async def _follow(url: str, path: str, *, last_event_id: str | None = None, until: str = "status",
                  stop_after: int | None = None) -> list[tuple[str, str, dict]]:
    """(event, id, data) of one stream until the event `until` (or `stop_after` epochs), then hang up."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    seen: list[tuple[str, str, dict]] = []
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(10, read=120)) as client, \
            aconnect_sse(client, "GET", path, headers=headers) as source:
        assert source.response.status_code == 200
        async for sse in source.aiter_sse():
            if not sse.data:  # a `retry:` alone
                continue
            seen.append((sse.event, sse.id, json.loads(sse.data)))
            epochs = sum(1 for event, _, _ in seen if event == "epoch")
            if sse.event == until or (stop_after is not None and epochs == stop_after):
                return seen
    return seen


def test_fifty_followers_each_get_every_epoch_once_and_the_final_status(shared: tuple[LiveServer, Settings]) -> None:
    server, settings = shared
    job_id = server.http.post("/jobs", json=JOB).json()["id"]
    reads_before = _scrape(server, "mnistlab_api_db_transactions_total", '{engine="read"}')
    looks_before = _scrape(server, "mnistlab_event_looks_total")
    started = time.monotonic()

    async def crowd() -> list[list[tuple[str, str, dict]]]:
        return await asyncio.gather(*(_follow(server.url, f"/jobs/{job_id}/events") for _ in range(50)))

    streams = asyncio.run(crowd())
    seconds = time.monotonic() - started
    for stream in streams:
        assert [data["epoch"] for event, _, data in stream if event == "epoch"] == [1, 2, 3]
        assert [sse_id for event, sse_id, _ in stream if event == "epoch"] == [f"epoch-{n}" for n in range(1, 4)]
        assert stream[-1][0] == "status" and stream[-1][2]["status"] == "succeeded"
    reads = _scrape(server, "mnistlab_api_db_transactions_total", '{engine="read"}') - reads_before
    looks = _scrape(server, "mnistlab_event_looks_total") - looks_before
    # One look per interval for all fifty: polling per follower would have read 50 x seconds / 0.5 times.
    assert looks <= seconds / settings.events_interval + 5
    assert reads < 3 * 50 + 2 * looks  # each follower reads on connect (and at most once to catch up)


def test_a_follower_that_hangs_up_and_resumes_misses_nothing(shared: tuple[LiveServer, Settings]) -> None:
    server, _ = shared
    job_id = server.http.post("/jobs", json=JOB).json()["id"]
    first = asyncio.run(_follow(server.url, f"/jobs/{job_id}/events", stop_after=1))
    (last_id,) = [sse_id for event, sse_id, _ in first if event == "epoch"]
    rest = asyncio.run(_follow(server.url, f"/jobs/{job_id}/events", last_event_id=last_id))
    assert last_id == "epoch-1"
    assert [data["epoch"] for event, _, data in rest if event == "epoch"] == [2, 3]
    assert rest[-1][2]["status"] == "succeeded"


def test_the_stream_of_everything_tells_jobs_and_sweeps(shared: tuple[LiveServer, Settings]) -> None:
    server, _ = shared

    async def watch() -> list[tuple[str, str, dict]]:
        seen: list[tuple[str, str, dict]] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=120)) as client, \
                aconnect_sse(client, "GET", "/events") as source:
            await asyncio.sleep(1.0)  # connected: what happens from now on is told
            sweep = await client.post("/sweeps", json={"name": "two seeds", "base": {**JOB, "epochs": 2},
                                                       "grid": {"seed": [1, 2]}})
            assert sweep.status_code == 201
            async for sse in source.aiter_sse():
                if not sse.data:
                    continue
                seen.append((sse.event, sse.id, json.loads(sse.data)))
                if sse.event == "sweep" and seen[-1][2]["status"] == "finished":
                    return seen
        return seen

    seen = asyncio.run(watch())
    created = [data for event, _, data in seen if event == "created"]
    # Each job as GET /jobs/{id} showed it when first seen (a worker may have claimed it already).
    assert len(created) == 2 and all(job["model"] == "cnn" and job["status"] in ("queued", "running")
                                     for job in created)
    for job in created:
        mine = [(event, data) for event, _, data in seen if data.get("job_id") == job["id"]]
        assert [data["epoch"] for event, data in mine if event == "epoch"] == [1, 2]
        assert mine[-1][0] == "status" and mine[-1][1]["status"] == "succeeded"
        assert any(event == "progress" and data["status"] == "running" for event, data in mine)  # ~1 s epochs
    sweeps = [data for event, _, data in seen if event == "sweep"]
    assert sweeps[-1]["counts"] == {"succeeded": 2} and sweeps[-1]["best_job_id"] in [job["id"] for job in created]


def _trained_at_once(settings: Settings, epochs: int) -> int:
    """A job queued, trained for `epochs` and finished in one transaction, as the database shows a quick job to a
    look that comes late: no look can see it before its end."""
    engine = make_engine(settings.db_url)
    try:
        with make_sessions(engine).begin() as session:
            job = Job.from_config(JobRequest(**{**JOB, "epochs": epochs}).resolve(seed=7),
                                  status=JobStatus.succeeded, attempts=1, last_epoch=epochs, best_epoch=epochs,
                                  best_test_accuracy=0.9, finished_at=utcnow())
            session.add(job)
            session.flush()
            for epoch in range(1, epochs + 1):
                jobs.insert_metric_once(session, job_id=job.id, metric=dict(
                    epoch=epoch, loss=1 / epoch, train_accuracy=0.9, test_accuracy=0.9, seconds=1.0,
                    images_per_second=6000.0))
            return job.id
    finally:
        engine.dispose()


def test_a_job_that_trained_before_the_streams_first_look_at_it_is_told_whole(
        shared: tuple[LiveServer, Settings]) -> None:
    """`created`, then every epoch it trained before the stream of everything first saw it, then its status."""
    server, settings = shared

    async def watch() -> tuple[int, list[tuple[str, str, dict]]]:
        seen: list[tuple[str, str, dict]] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=30)) as client, \
                aconnect_sse(client, "GET", "/events") as source:
            # Two looks begun since the stream opened: the first has ended, so the job below is new to the next.
            looks = _scrape(server, "mnistlab_event_looks_total")
            await asyncio.to_thread(wait_for, lambda: _scrape(server, "mnistlab_event_looks_total") >= looks + 2,
                                    timeout=30, what="two looks of the broadcaster")
            job_id = await asyncio.to_thread(_trained_at_once, settings, 2)
            with contextlib.suppress(TimeoutError):  # a stream that never tells the job's end stays open
                async with asyncio.timeout(30):
                    async for sse in source.aiter_sse():
                        if sse.data:
                            seen.append((sse.event, sse.id, json.loads(sse.data)))
                            if sse.event == "status" and seen[-1][2]["job_id"] == job_id:
                                break
        return job_id, seen

    job_id, seen = asyncio.run(watch())
    mine = [(event, data) for event, _, data in seen if data.get("job_id", data.get("id")) == job_id]
    assert [event for event, _ in mine] == ["created", "epoch", "epoch", "status"]
    assert [data["epoch"] for event, data in mine if event == "epoch"] == [1, 2]
    assert mine[-1][1]["status"] == "succeeded"


def test_past_the_stream_limit_a_503_with_retry_after_and_the_api_keeps_answering(
        processes: Processes, tmp_path: Path, small_data_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", small_data_dir, max_streams=3)
    server = start_server(processes, settings, workers=0)
    job_id = server.http.post("/jobs", json=JOB).json()["id"]

    async def crowd() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            async with client.stream("GET", "/events") as one, client.stream("GET", f"/jobs/{job_id}/events") as two, \
                    client.stream("GET", f"/jobs/{job_id}/events") as three:
                assert [one.status_code, two.status_code, three.status_code] == [200, 200, 200]
                for path in ("/events", f"/jobs/{job_id}/events"):
                    refused = await client.get(path)
                    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
                    assert "MNISTLAB_MAX_STREAMS" in refused.json()["detail"]
                assert (await client.get("/health")).status_code == 200  # the API keeps answering
                assert (await client.get(f"/jobs/{job_id}")).json()["status"] == "queued"
            # Hung up: room again (the server ends a stream as soon as its client disconnects).
            for _ in range(100):
                async with client.stream("GET", "/events") as again:
                    if again.status_code == 200:
                        return
                await asyncio.sleep(0.2)
            pytest.fail("no room after three streams closed")

    asyncio.run(crowd())


def test_a_subscriber_that_stops_reading_is_dropped_not_buffered() -> None:
    async def overflow() -> None:
        subscription = Subscription(broadcaster=None, job_id=1)  # type: ignore[arg-type]
        for index in range(QUEUE_EVENTS * 3):
            subscription.offer(Event("progress", f"event {index}"))
        assert subscription.dropped and subscription._queue.qsize() == 1  # what it held was let go
        assert await subscription.next(1.0) is DROPPED  # its stream ends; the client resumes with Last-Event-ID

    asyncio.run(overflow())


@both_databases
def test_events_arrive_without_polling_where_changes_are_pushed(processes: Processes, tmp_path: Path,
                                                                 small_data_dir: Path, database: str) -> None:
    """PostgreSQL: NOTIFY wakes the broadcaster (looks only then). SQLite, the control: nothing pushes, so
    with polling this slow no event arrives at all."""
    settings = make_settings(tmp_path / "home", small_data_dir, database_url=database, events_interval=3600,
                             events_fallback_interval=3600)
    server = start_server(processes, settings)
    job_id = server.http.post("/jobs", json={**JOB, "epochs": 2}).json()["id"]
    pushed = database.startswith("postgresql")

    async def follow_until_it_ended() -> list[tuple[str, str, dict]]:
        seen: list[tuple[str, str, dict]] = []

        async def follow() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=120)) as client, \
                    aconnect_sse(client, "GET", f"/jobs/{job_id}/events") as source:
                async for sse in source.aiter_sse():
                    if not sse.data:
                        continue
                    seen.append((sse.event, sse.id, json.loads(sse.data)))
                    if sse.event == "status":
                        return

        follower = asyncio.create_task(follow())
        async with httpx.AsyncClient(base_url=server.url) as client:
            while (await client.get(f"/jobs/{job_id}")).json()["status"] != "succeeded":
                await asyncio.sleep(0.2)
        # A pushed change arrives in well under a second (the follower then ends by itself); on SQLite, one second
        # more of nothing is the control.
        await asyncio.wait({follower}, timeout=5 if pushed else 1)
        follower.cancel()
        return seen

    stream = asyncio.run(follow_until_it_ended())
    epochs = [data["epoch"] for event, _, data in stream if event == "epoch"]
    if pushed:
        assert epochs == [1, 2] and stream[-1][0] == "status" and stream[-1][2]["status"] == "succeeded"
    else:
        assert epochs == [] and [event for event, _, _ in stream] == ["progress"]  # told nothing after connecting
