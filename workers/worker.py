"""The worker process: claim a job, train it epoch by epoch with checkpoints, hand it back on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import torch
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.datasets import DatasetUnavailable, Split, load_split
from mnistlab.db import create_schema, make_engine, make_sessions
from mnistlab.settings import Settings
from mnistlab.tables import Job, JobStatus
from models_store import checkpoints
from models_store.architectures import initial_weights_hash
from workers import devices
from workers.heartbeat import JobHeartbeat
from workers.training import Stopped, TrainingConfig, checkpoint_payload, new_state, restore_state, run_epoch

log = logging.getLogger(__name__)
DATA_CACHE_SIZE = 2  # (dataset, device) pairs kept in memory between jobs


def config_of(job: Job) -> TrainingConfig:
    return TrainingConfig(dataset=job.dataset, model=job.model, optimizer=job.optimizer, epochs=job.epochs,
                          batch_size=job.batch_size, seed=job.seed, lr=job.lr, momentum=job.momentum,
                          hidden=job.hidden)


@dataclass(frozen=True)
class Outcome:
    status: JobStatus | None  # None: handed back or lost, nothing more to write
    error: str | None = None


class Worker:
    def __init__(self, settings: Settings, *, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        settings.ensure_dirs()
        if sessions is None:
            engine = make_engine(settings.db_url)
            create_schema(engine)
            sessions = make_sessions(engine)
        self.sessions = sessions
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.devices = devices.available_devices()
        self.shutting_down = threading.Event()
        self._data: OrderedDict[tuple[str, str], tuple[Split, Split]] = OrderedDict()

    # --- process life ---------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self.shutting_down.is_set():
                log.warning("second signal: exiting now")
                os._exit(128 + signum)
            log.info("signal %s: finishing the current batch, then handing the job back", signum)
            self.shutting_down.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self, *, burst: bool = False) -> int:
        """Work until shut down (or, in burst mode, until the queue is empty). Returns jobs processed."""
        removed = checkpoints.remove_temp_files(self.settings.checkpoint_dir,
                                                older_than=self.settings.heartbeat_timeout)
        if removed:
            log.info("removed %d temp files left by interrupted checkpoint writes", removed)
        with self.sessions.begin() as session:
            jobs.register_worker(session, worker_id=self.id, hostname=socket.gethostname(), pid=os.getpid(),
                                 devices=self.devices)
        log.info("worker %s ready (devices: %s)", self.id, ", ".join(self.devices))
        processed = 0
        try:
            while not self.shutting_down.is_set():
                job = self._claim()
                if job is None:
                    if burst:
                        break
                    self.shutting_down.wait(self.settings.poll_interval)
                    continue
                self.run_job(job)
                processed += 1
        finally:
            with self.sessions.begin() as session:
                jobs.unregister_worker(session, self.id)
        return processed

    def _claim(self) -> Job | None:
        with self.sessions.begin() as session:
            jobs.touch_worker(session, self.id)
            requeued = jobs.requeue_stale(session, timeout=self.settings.heartbeat_timeout,
                                          max_attempts=self.settings.max_attempts)
        if requeued:
            log.warning("jobs %s had silent workers: requeued or failed", requeued)
        with self.sessions.begin() as session:
            return jobs.claim_next(session, worker_id=self.id, devices=self.devices)

    # --- one job ------------------------------------------------------------------------------------------

    def run_job(self, job: Job) -> None:
        waited = (time.time() - job.created_at.timestamp())
        log.info("job %s claimed by %s (attempt %s, %.2fs after submission)", job.id, self.id, job.attempts, waited)
        try:
            outcome = self._train(job)
        except DatasetUnavailable as error:
            outcome = Outcome(JobStatus.failed, str(error))
        except Exception as error:  # the job fails; the worker lives on for the next one
            log.exception("job %s failed", job.id)
            outcome = Outcome(JobStatus.failed, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}")
        with self.sessions.begin() as session:
            if outcome.status is not None:
                jobs.finish(session, job_id=job.id, worker_id=self.id, status=outcome.status, error=outcome.error)
            elif self.shutting_down.is_set():
                jobs.hand_back(session, job_id=job.id, worker_id=self.id)
        log.info("job %s: %s", job.id, outcome.status.value if outcome.status else "handed back")

    def _load(self, dataset: str, device: torch.device) -> tuple[Split, Split]:
        key = (dataset, str(device))
        if key not in self._data:
            data_dir, download = self.settings.datasets_dir, self.settings.download
            train = load_split(data_dir, dataset, train=True, download=download).to(device)
            test = load_split(data_dir, dataset, train=False, download=download).to(device)
            self._data[key] = (train, test)
            while len(self._data) > DATA_CACHE_SIZE:
                self._data.popitem(last=False)
        self._data.move_to_end(key)
        return self._data[key]

    def _train(self, job: Job) -> Outcome:
        config = config_of(job)
        try:
            device = devices.resolve(job.device)
        except RuntimeError as error:
            return Outcome(JobStatus.failed, str(error))
        last_path = checkpoints.checkpoint_path(self.settings.checkpoint_dir, job.id, "last")
        best_path = checkpoints.checkpoint_path(self.settings.checkpoint_dir, job.id, "best")
        heartbeat = JobHeartbeat(self.sessions, job_id=job.id, worker_id=self.id, epochs=config.epochs,
                                 interval=self.settings.heartbeat_interval, start_epoch=job.last_epoch or 0)
        with heartbeat:  # beating before the data loads, so a slow load never looks like a dead worker
            train, test = self._load(config.dataset, device)
            if last_path.exists():
                state = restore_state(checkpoints.load(last_path, map_location=device), config, device)
                log.info("job %s resumes after epoch %s", job.id, state.epoch)
            else:
                state = new_state(config, device)
            with self.sessions.begin() as session:
                jobs.set_running_details(session, job_id=job.id, worker_id=self.id, ran_on=devices.describe(device),
                                         init_hash=initial_weights_hash(config.model, config.hidden, config.seed))
                # An epoch whose checkpoint landed but whose row did not (killed in between) is recorded now.
                for metric in state.history:
                    jobs.insert_metric_once(session, job_id=job.id, metric=metric)

            def should_stop(done: int, total: int) -> bool:
                heartbeat.batch_done(state.epoch, done, total)
                return self.shutting_down.is_set() or heartbeat.ownership != jobs.Ownership.keep

            if state.epoch == 0:
                log.info("job %s: first batch %.2fs after submission", job.id,
                         time.time() - job.created_at.timestamp())
            while state.epoch < config.epochs:
                try:
                    metric = run_epoch(state, train, test, batch_size=config.batch_size, on_batch=should_stop)
                except Stopped:
                    if self.shutting_down.is_set() and heartbeat.ownership == jobs.Ownership.keep:
                        # Save where this epoch stopped: the next worker continues from this very batch.
                        checkpoints.save_atomic(checkpoint_payload(state, config), last_path)
                    break
                if state.best_epoch == state.epoch:
                    checkpoints.save_atomic(checkpoint_payload(state, config), best_path)
                checkpoints.save_atomic(checkpoint_payload(state, config), last_path)
                heartbeat.epoch_done(state.epoch, metric["seconds"])
                with self.sessions.begin() as session:
                    if not jobs.record_epoch(session, job_id=job.id, worker_id=self.id, metric=metric,
                                             best_epoch=state.best_epoch,
                                             best_test_accuracy=state.best_test_accuracy):
                        return Outcome(None)
                log.info("job %s epoch %s/%s: loss %.4f, test accuracy %.4f (%.1fs)", job.id, state.epoch,
                         config.epochs, metric["loss"], metric["test_accuracy"], metric["seconds"])
        if heartbeat.ownership == jobs.Ownership.lost:
            return Outcome(None)
        if state.epoch >= config.epochs:
            return Outcome(JobStatus.succeeded)
        if heartbeat.ownership == jobs.Ownership.cancel:
            return Outcome(JobStatus.cancelled)
        return Outcome(None)  # shutting down: the caller hands the job back
