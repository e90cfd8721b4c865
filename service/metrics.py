"""Prometheus metrics for GET /metrics.

The API counts its own requests and predictions in a registry of its own (no global state; with
several API processes, in Prometheus's multi-process files, summed at each scrape). The
queue's and the workers' figures are read from the database at scrape time, so workers on any host
need no metrics port: what they record per epoch (duration, images/s) is already in `epoch_metrics`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, event, func, select
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnistlab.db import utcnow
from mnistlab.jobs import live_workers
from mnistlab.tables import EpochMetric, Job, JobStatus

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when it is first imported
EPOCH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
PREDICTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RECENT = timedelta(minutes=5)  # the window of the images/s gauge


class ApiMetrics:
    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        """multiprocess_dir: set when several API processes serve one port (service/serving.py);
        each scrape then sums what every one of them counted."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_requests = Counter("mnistlab_http_requests", "HTTP requests answered, by route template and status.",
                                     ["method", "route", "status"], registry=self.registry)
        self.predicted_images = Counter("mnistlab_predicted_images", "Images classified (every protocol).", ["dataset"],
                                        registry=self.registry)
        self.prediction_seconds = Histogram("mnistlab_prediction_duration_seconds",
                                            "Time to decode, preprocess and classify the images of one request.",
                                            ["dataset"], buckets=PREDICTION_BUCKETS, registry=self.registry)
        self.db_transactions = Counter("mnistlab_api_db_transactions", "Database transactions the API processes "
                                       "began, by engine (read: never takes SQLite's write lock).", ["engine"],
                                       registry=self.registry)
        self.event_looks = Counter("mnistlab_event_looks", "Looks at the database by the live-event broadcasters "
                                   "(one per interval or NOTIFY for all watchers of a process).", registry=self.registry)
        self.event_streams = Gauge("mnistlab_event_streams", "Open Server-Sent Event streams.", registry=self.registry,
                                   multiprocess_mode="livesum")
        self.signin_failures = Counter("mnistlab_signin_failures", "Sign-ins with a wrong API key (POST /session).",
                                       registry=self.registry)
        self.scraped = self.registry  # what /metrics writes out; collectors of the whole service join it
        if multiprocess_dir is not None:
            self.scraped = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self.scraped, path=multiprocess_dir)
        self._request_counters: dict[tuple[str, str, int], Counter] = {}
        self._prediction_children: dict[str, tuple[Counter, Histogram]] = {}

    def answered(self, method: str, route: str, status: int) -> None:
        # Labelled children are kept: `labels()` takes a lock and builds a key, a measurable share of a
        # one-image prediction. Bounded: methods are HTTP's few, routes are templates.
        key = (method, route, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self.http_requests.labels(method, route, str(status))
        counter.inc()

    def predicted(self, dataset: str, images: int, seconds: float) -> None:
        if dataset not in self._prediction_children:
            self._prediction_children[dataset] = (self.predicted_images.labels(dataset),
                                                  self.prediction_seconds.labels(dataset))
        counter, histogram = self._prediction_children[dataset]
        counter.inc(images)
        histogram.observe(seconds)

    def count_transactions(self, engine: Engine, name: str) -> None:
        """Count every transaction `engine` begins (bench/watchers.py reads it: the cost of watching)."""
        counter = self.db_transactions.labels(name)
        event.listen(engine, "begin", lambda _connection: counter.inc())

    def exposition(self) -> bytes:
        return generate_latest(self.scraped)


def device_label(ran_on: str | None) -> str:
    """"cuda:0 NVIDIA H100 80GB HBM3" -> "cuda:0": the device, without the model name."""
    return (ran_on or "unknown").split(" ", 1)[0]


class DatabaseCollector(Collector):
    """Jobs, queue, workers and training speed, as the database has them now."""

    def __init__(self, sessions: sessionmaker, *, heartbeat_timeout: float) -> None:
        self.sessions, self.heartbeat_timeout = sessions, heartbeat_timeout

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            by_state = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            queued = session.execute(select(Job.device, func.count()).where(Job.status == JobStatus.queued)
                                     .group_by(Job.device)).all()
            workers = len(live_workers(session, timeout=self.heartbeat_timeout))
            images = EpochMetric.images_per_second * EpochMetric.seconds
            epochs = session.execute(
                select(Job.model, Job.ran_on, func.count(), func.sum(EpochMetric.seconds), func.sum(images),
                       *(func.sum(case((EpochMetric.seconds <= bound, 1), else_=0)) for bound in EPOCH_BUCKETS))
                .join(Job, EpochMetric.job_id == Job.id).group_by(Job.model, Job.ran_on)
            ).all()
            recent = session.execute(
                select(Job.model, Job.ran_on, func.sum(images), func.sum(EpochMetric.seconds))
                .join(Job, EpochMetric.job_id == Job.id).where(EpochMetric.created_at >= utcnow() - RECENT)
                .group_by(Job.model, Job.ran_on)
            ).all()

        jobs = GaugeMetricFamily("mnistlab_jobs", "Jobs by state.", labels=["state"])
        for state in JobStatus:
            jobs.add_metric([state.value], by_state.get(state, 0))
        yield jobs
        depth = GaugeMetricFamily("mnistlab_queue_depth", "Queued jobs, by the device they asked for.",
                                  labels=["device"])
        for device, count in queued:
            depth.add_metric([device], count)
        yield depth
        yield GaugeMetricFamily("mnistlab_workers_live", "Workers that sent a heartbeat within the timeout.",
                                value=workers)
        yield from self._training(epochs, recent)

    def _training(self, epochs: list, recent: list) -> Iterator[Metric]:  # type: ignore[type-arg]
        # Rows come per (model, ran_on); GPUs of one kind but different names share a device label.
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * (3 + len(EPOCH_BUCKETS)))
        for model, ran_on, *values in epochs:
            row = totals[(model, device_label(ran_on))]
            for index, value in enumerate(values):
                row[index] += value or 0
        duration = HistogramMetricFamily("mnistlab_epoch_duration_seconds",
                                         "Training epochs (train + evaluation), by architecture and device.",
                                         labels=["model", "device"])
        trained = CounterMetricFamily("mnistlab_trained_images", "Training images processed by workers.",
                                      labels=["model", "device"])
        for (model, device), (count, seconds, images, *cumulative) in sorted(totals.items()):
            buckets = [(str(bound), value) for bound, value in zip(EPOCH_BUCKETS, cumulative, strict=True)]
            duration.add_metric([model, device], [*buckets, ("+Inf", count)], sum_value=seconds)
            trained.add_metric([model, device], images)
        yield duration
        yield trained
        speed = GaugeMetricFamily("mnistlab_training_images_per_second",
                                  f"Training speed over the epochs finished in the last {RECENT.seconds // 60} "
                                  "minutes, by architecture and device.", labels=["model", "device"])
        recent_totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for model, ran_on, images, seconds in recent:
            row = recent_totals[(model, device_label(ran_on))]
            row[0] += images or 0
            row[1] += seconds or 0
        for (model, device), (images, seconds) in sorted(recent_totals.items()):
            if seconds > 0:
                speed.add_metric([model, device], images / seconds)
        yield speed


class HttpMetricsMiddleware:
    """Counts every answered request by method, route template (not raw path: bounded labels) and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            self.metrics.answered(scope["method"], route, status)
