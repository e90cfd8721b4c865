"""Live events for every watcher from one reader: the broadcaster of an API process.

However many clients follow a job (`GET /jobs/{id}/events`) or everything (`GET /events`), the process
looks at the database once per interval (or, on PostgreSQL, when a NOTIFY says something changed), turns
what changed into events, serializes each once and hands it to every subscriber's queue. Watching costs
the database the same for one watcher as for three hundred.

A subscriber's queue is bounded: one that stops reading is dropped when it fills (its client reconnects
with Last-Event-ID and misses nothing, since a job's epochs are read back from the database on resume).
Each job event carries the job's last recorded epoch, so a subscriber that sees it is behind (it joined
between two looks, or was dropped) reads the missing epochs once, itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mnistlab import jobs, sweeps
from mnistlab.settings import Settings
from mnistlab.spec import JobStatus
from mnistlab.tables import Job, Sweep
from service.background import in_thread
from service.errors import Unavailable
from service.metrics import ApiMetrics
from service.schemas import MetricOut
from service.views import job_views, sweep_view

CHANNEL = "mnistlab_events"  # mnistlab/migrations/versions/0005_change_notifications.py
QUEUE_EVENTS = 256  # per subscriber: about 100 s of a fast job's events; a client further behind is dropped
RETRY_AFTER = 5  # seconds a client turned away for the stream limit is told to wait
log = logging.getLogger("service.live_events")


def sse(kind: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


@dataclass(frozen=True)
class Event:
    """One event, serialized once for all its subscribers. `behind`: a subscriber that has delivered fewer
    epochs than this must read the missing ones before passing the event on (job streams only)."""

    kind: str
    text: str
    epoch: int | None = None
    behind: int = 0


DROPPED = Event("dropped", "")  # the queue overflowed: end the stream, the client reconnects


class Subscription:
    def __init__(self, broadcaster: Broadcaster, job_id: int | None) -> None:
        self.broadcaster, self.job_id = broadcaster, job_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_EVENTS)
        self.dropped = False

    def offer(self, event: Event) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:  # not reading: free what it holds and tell its stream to end
            self.dropped = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(DROPPED)

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            async with asyncio.timeout(timeout):  # not wait_for: that makes a task per call, per event, per watcher
                return await self._queue.get()
        except TimeoutError:
            return None

    def close(self) -> None:
        self.broadcaster.unsubscribe(self)


@dataclass
class _Seen:
    progress: tuple
    last_epoch: int
    ended: bool


@dataclass
class _Look:
    """What one look found: events per followed job, and events for `GET /events`."""

    per_job: dict[int, list[Event]] = field(default_factory=lambda: defaultdict(list))
    everything: list[Event] = field(default_factory=list)


class Broadcaster:
    def __init__(self, settings: Settings, reads: sessionmaker, metrics: ApiMetrics) -> None:
        self._settings, self._reads, self._metrics = settings, reads, metrics
        self._by_job: dict[int, set[Subscription]] = defaultdict(set)
        self._everything: set[Subscription] = set()
        self._seen: dict[int, _Seen] = {}
        self._seen_sweeps: dict[int, tuple] = {}
        self._newest_job: int | None = None
        self._newest_sweep: int | None = None
        self._wake = asyncio.Event()
        self.pushed = False  # a LISTEN connection is up: looks follow NOTIFYs, polling only as a safety net

    # --- subscribers (on the event loop) -----------------------------------------------------------------

    @property
    def open_streams(self) -> int:
        return len(self._everything) + sum(len(subs) for subs in self._by_job.values())

    def check_room(self) -> None:
        """503 (with Retry-After) once this process serves MNISTLAB_MAX_STREAMS streams."""
        if self.open_streams >= self._settings.max_streams:
            raise Unavailable(f"this API process already serves {self.open_streams} event streams, its limit "
                              f"(MNISTLAB_MAX_STREAMS); try again in {RETRY_AFTER} s", retry_after=RETRY_AFTER)

    def subscribe(self, job_id: int | None) -> Subscription:
        """A queue of one job's events (job_id) or of everything (None). Streams subscribe once they run, so
        that a stream that never starts holds nothing; their route checks for room before."""
        subscription = Subscription(self, job_id)
        if job_id is None:
            self._everything.add(subscription)
        else:
            self._by_job[job_id].add(subscription)
        self._wake.set()
        self._metrics.event_streams.set(self.open_streams)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.job_id is None:
            self._everything.discard(subscription)
        elif (followers := self._by_job.get(subscription.job_id)) is not None:
            followers.discard(subscription)
            if not followers:
                del self._by_job[subscription.job_id]
        self._metrics.event_streams.set(self.open_streams)

    # --- the reader ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Look whenever someone watches: every `events_interval`, or on a NOTIFY (PostgreSQL, where the
        LISTEN connection opens with the first watcher)."""
        listener: asyncio.Task | None = None
        try:
            while True:
                if not self._everything and not self._by_job:
                    self._wake.clear()
                    await self._wake.wait()
                if listener is None and self._settings.db_url.startswith("postgresql"):
                    listener = asyncio.create_task(self.listen())
                await self._look_and_wait()
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _look_and_wait(self) -> None:
        self._wake.clear()
        try:
            found = await in_thread(self._look, set(self._by_job), bool(self._everything))
        except Exception:  # a database hiccup must not end live events for good
            log.exception("looking for changes failed; trying again")
            found = _Look()
        self._fan_out(found)
        interval = self._settings.events_fallback_interval if self.pushed else self._settings.events_interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), interval)
            if self.pushed:
                await asyncio.sleep(0.02)  # let a burst of notifications make one look

    def _fan_out(self, found: _Look) -> None:
        for job_id, events in found.per_job.items():
            for subscription in list(self._by_job.get(job_id, ())):
                for event in events:
                    subscription.offer(event)
        for subscription in list(self._everything):
            for event in found.everything:
                subscription.offer(event)

    def _look(self, followed: set[int], everything: bool) -> _Look:
        """One read transaction: what changed since the last look (runs in a worker thread, one at a time)."""
        self._metrics.event_looks.inc()
        found = _Look()
        with self._reads() as session:
            if self._newest_job is None:
                self._newest_job = session.scalar(select(func.max(Job.id))) or 0
            watched = followed | set(self._seen)
            rows = session.scalars(select(Job).where(or_(
                Job.status.in_((JobStatus.queued, JobStatus.running)), Job.id > self._newest_job,
                *([Job.id.in_(watched)] if watched else [])))).all()
            created = [job for job in rows if job.id > self._newest_job]
            if everything and created:
                found.everything += [Event("created", sse("created", view.model_dump(mode="json")))
                                     for view in job_views(session, self._settings, created)]
            self._newest_job = max([self._newest_job, *(job.id for job in rows)])
            for job in rows:
                self._job_changes(session, job, found, everything, new=job in created)
            if everything:
                self._sweep_changes(session, found)
        return found

    def _job_changes(self, session: Session, job: Job, found: _Look, everything: bool, *, new: bool) -> None:
        progress = (job.status.value, job.progress_epoch, job.progress_fraction, job.eta_seconds)
        last_epoch, seen = job.last_epoch or 0, self._seen.get(job.id)
        if seen is None and new:  # created since the last look: the epochs it trained meanwhile follow `created`
            seen = _Seen((), 0, False)
        if job.status.ended:
            self._seen.pop(job.id, None)
        else:
            self._seen[job.id] = _Seen(progress, last_epoch, False)
        if seen is None:  # first sight of an older job: nothing to compare with; followers read their own past
            return
        events, shared = found.per_job[job.id], found.everything if everything else []
        if last_epoch > seen.last_epoch:
            for row in jobs.metrics_of(session, job.id, after_epoch=seen.last_epoch):
                metric = MetricOut.model_validate(row).model_dump()
                events.append(Event("epoch", sse("epoch", metric, f"epoch-{row.epoch}"), epoch=row.epoch,
                                    behind=row.epoch - 1))
                shared.append(Event("epoch", sse("epoch", {"job_id": job.id, **metric})))
        if job.status.ended:
            final = {"status": job.status.value, "error": job.error,
                     "best": {"epoch": job.best_epoch, "test_accuracy": job.best_test_accuracy}}
            events.append(Event("status", sse("status", final), behind=last_epoch))
            shared.append(Event("status", sse("status", {"job_id": job.id, **final})))
        elif progress != seen.progress:
            now = {"status": job.status.value, "epoch": job.progress_epoch, "epochs": job.epochs,
                   "fraction": job.progress_fraction, "eta_seconds": job.eta_seconds}
            events.append(Event("progress", sse("progress", now), behind=last_epoch))
            shared.append(Event("progress", sse("progress", {"job_id": job.id, **now})))

    def _sweep_changes(self, session: Session, found: _Look) -> None:
        if self._newest_sweep is None:
            self._newest_sweep = session.scalar(select(func.max(Sweep.id))) or 0
        watched = set(self._seen_sweeps)
        looked = session.scalars(select(Sweep).where(or_(
            Sweep.status.in_(sweeps.ACTIVE), Sweep.id > self._newest_sweep,
            *([Sweep.id.in_(watched)] if watched else [])))).all()
        if not looked:
            return
        tallies: dict[int, list] = defaultdict(list)
        for sweep_id, status, count, epochs in session.execute(
                select(Job.sweep_id, Job.status, func.count(), func.coalesce(func.sum(Job.last_epoch), 0))
                .where(Job.sweep_id.in_([sweep.id for sweep in looked])).group_by(Job.sweep_id, Job.status)):
            tallies[sweep_id].append((status.value, count, epochs))
        for sweep in looked:
            state = (sweep.status, tuple(sorted(tallies[sweep.id])))
            if self._seen_sweeps.get(sweep.id) != state:
                found.everything.append(Event("sweep", sse("sweep", sweep_view(session, sweep).model_dump(mode="json"))))
            if sweep.status.active:
                self._seen_sweeps[sweep.id] = state
            else:
                self._seen_sweeps.pop(sweep.id, None)
        self._newest_sweep = max([self._newest_sweep, *(sweep.id for sweep in looked)])

    # --- PostgreSQL: changes pushed --------------------------------------------------------------------------

    async def listen(self) -> None:
        """LISTEN for the jobs' and sweeps' NOTIFYs (PostgreSQL only); reconnects after a lost connection."""
        import psycopg

        url = make_url(self._settings.db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await _connect(url) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.pushed = True
                    self._wake.set()  # anything missed while no connection was up
                    async for _ in connection.notifies():
                        self._wake.set()
            except (psycopg.Error, OSError) as error:
                log.warning("LISTEN %s failed (%s): polling every %ss until it is back", CHANNEL, error,
                            self._settings.events_interval)
            finally:
                self.pushed = False
            await asyncio.sleep(RETRY_AFTER)


async def _connect(url: str):  # type: ignore[no-untyped-def]
    """A psycopg AsyncConnection that is closed, not left to the garbage collector, when its task is
    cancelled (an API process stopping) while it is still connecting."""
    import psycopg

    connecting = asyncio.ensure_future(psycopg.AsyncConnection.connect(url, autocommit=True))
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await (await connecting).close()
        raise
