"""A background thread that tells the database a job is alive, with its progress, and hears cancels.

It also fences the worker: when no beat got through for half the heartbeat timeout (the database is
unreachable, say, from a host cut off the network), the job counts as lost. Another worker may take
it over once the full timeout has passed, and by then this one has stopped writing checkpoints.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.jobs import Ownership, Progress
from mnistlab.logs import first_line


class JobHeartbeat:
    def __init__(self, sessions: sessionmaker, *, job_id: int, worker_id: str, interval: float, lease: float,
                 epochs: int, start_epoch: int, log: logging.LoggerAdapter) -> None:
        self._sessions, self.job_id, self.worker_id = sessions, job_id, worker_id
        self._interval, self._epochs, self._lease = interval, epochs, lease
        self._log = log
        self._lock = threading.Lock()
        self._epoch, self._fraction = start_epoch, 0.0
        self._epoch_started = time.monotonic()
        self._epoch_seconds: float | None = None
        self._ownership = Ownership.keep
        self._last_beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-job-{job_id}", daemon=True)

    def __enter__(self) -> "JobHeartbeat":
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def batch_done(self, epoch_index: int, done: int, total: int) -> None:
        with self._lock:
            self._epoch, self._fraction = epoch_index, done / total

    def epoch_done(self, epoch: int, seconds: float) -> None:
        with self._lock:
            self._epoch, self._fraction, self._epoch_seconds = epoch, 0.0, seconds
            self._epoch_started = time.monotonic()

    def progress(self) -> Progress:
        with self._lock:
            epoch, fraction = self._epoch, self._fraction
            elapsed = time.monotonic() - self._epoch_started
            per_epoch = self._epoch_seconds or (elapsed / fraction if fraction > 0.02 else None)
        eta = None if per_epoch is None else max(0.0, (self._epochs - epoch - fraction) * per_epoch)
        return Progress(epoch=epoch, fraction=fraction, eta_seconds=eta)

    @property
    def ownership(self) -> Ownership:
        silent = time.monotonic() - self._last_beat
        if self._ownership != Ownership.lost and silent > self._lease / 2:
            self._log.warning("no heartbeat got through for %.1fs: giving the job up to the other workers", silent)
            self._ownership = Ownership.lost
        return self._ownership

    def beat(self) -> Ownership:
        try:
            with self._sessions.begin() as session:
                ownership = jobs.job_heartbeat(session, job_id=self.job_id, worker_id=self.worker_id,
                                               progress=self.progress())
                jobs.touch_worker(session, self.worker_id)
        except Exception as error:  # a missed beat is not fatal; the next one may get through
            self._log.warning("heartbeat failed: %s", first_line(error))
            return self.ownership
        self._last_beat = time.monotonic()
        if self._ownership != Ownership.lost:
            self._ownership = ownership
        return self.ownership

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()
