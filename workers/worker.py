"""The worker process: claim a job, train it epoch by epoch with checkpoints, hand it back on SIGTERM."""

from __future__ import annotations

import errno
import logging
import os
import platform
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from mnistlab import __version__, datasets, jobs, schema, sweeps
from mnistlab.datasets import DatasetUnavailable, Split, load_split
from mnistlab.db import make_engine, make_sessions
from mnistlab.logs import event_log, first_line, one_line
from mnistlab.settings import Settings
from mnistlab.spec import early_stop_reason
from mnistlab.tables import Job, JobStatus
from models_store import checkpoints
from models_store.architectures import initial_weights_hash
from workers import devices
from workers.heartbeat import JobHeartbeat
from workers.training import (
    Stopped,
    TrainState,
    checkpoint_payload,
    new_state,
    restore_state,
    run_epoch,
)

log = logging.getLogger(__name__)
DATA_CACHE_SIZE = 2  # (dataset, device) pairs kept in memory between jobs
MAX_RETRY_WAIT = 10.0  # seconds between attempts to reach a database that is down


class CheckpointFolderFull(Exception):
    """No room for a checkpoint: the job fails with this message; the worker and the API go on."""


@dataclass(frozen=True)
class Outcome:
    status: JobStatus | None  # None: handed back or lost, nothing more to write
    error: str | None = None
    stopped_early: str | None = None


class Worker:
    def __init__(self, settings: Settings, *, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        settings.ensure_dirs()
        self._own_engine = None  # made here, so disposed here when run() ends
        self.studies = sweeps.StudyStorage(settings.db_url)  # Optuna's, for trials of searches with a pruner
        if sessions is None:
            self._own_engine = make_engine(settings.db_url)
            schema.upgrade(self._own_engine)
            sessions = make_sessions(self._own_engine)
        self.sessions = sessions
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.log = event_log(log, worker_id=self.id)
        self.devices = devices.available_devices()
        self.shutting_down = threading.Event()
        self._data: OrderedDict[tuple[str, str], tuple[Split, Split]] = OrderedDict()
        self._digests: dict[str, str] = {}  # data set -> sha256 of its files, once per process

    # --- process life ---------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self.shutting_down.is_set():
                self.log.warning("second signal: exiting now")
                os._exit(128 + signum)
            self.log.info("signal %s: finishing the current batch, then handing the job back", signum)
            self.shutting_down.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self, *, burst: bool = False, max_jobs: int | None = None) -> int:
        """Work until shut down, until the queue is empty (burst), or after max_jobs jobs. Returns jobs processed."""
        removed = checkpoints.remove_temp_files(self.settings.checkpoint_dir,
                                                older_than=self.settings.heartbeat_timeout)
        if removed:
            self.log.info("removed %d temp files left by interrupted checkpoint writes", removed)
        with self.sessions.begin() as session:
            jobs.register_worker(session, worker_id=self.id, hostname=socket.gethostname(), pid=os.getpid(),
                                 devices=self.devices)
        self.log.info("worker ready (devices: %s)", ", ".join(self.devices))
        processed, retry_wait = 0, self.settings.poll_interval
        try:
            while not self.shutting_down.is_set() and (max_jobs is None or processed < max_jobs):
                try:
                    job = self._claim()
                except OperationalError as error:  # the database is down or unreachable: wait, then retry
                    self.log.warning("cannot reach the database (%s); retrying in %.1fs", first_line(error),
                                     retry_wait)
                    self.shutting_down.wait(retry_wait)
                    retry_wait = min(2 * retry_wait, MAX_RETRY_WAIT)
                    continue
                if retry_wait > self.settings.poll_interval:
                    self.log.info("the database is reachable again")
                    retry_wait = self.settings.poll_interval
                if job is None:
                    if burst:
                        break
                    self.shutting_down.wait(self.settings.poll_interval)
                    continue
                self.run_job(job)
                processed += 1
        finally:
            try:
                with self.sessions.begin() as session:
                    jobs.unregister_worker(session, self.id)
            except OperationalError as error:  # its record expires with its heartbeat instead
                self.log.warning("could not unregister: %s", first_line(error))
            self.studies.close()
            if self._own_engine is not None:
                self._own_engine.dispose()
        return processed

    def _claim(self) -> Job | None:
        with self.sessions.begin() as session:
            jobs.touch_worker(session, self.id)
            jobs.requeue_stale(session, timeout=self.settings.heartbeat_timeout,
                               max_attempts=self.settings.max_attempts)
        with self.sessions.begin() as session:
            return jobs.claim_next(session, worker_id=self.id, devices=self.devices)

    # --- one job ------------------------------------------------------------------------------------------

    def run_job(self, job: Job) -> None:
        job_log = event_log(log, worker_id=self.id, job_id=job.id)
        waited = (time.time() - job.created_at.timestamp())
        job_log.info("claimed (attempt %s, %.2fs after submission)", job.attempts, waited)
        try:
            outcome = self._train(job, job_log)
        except (DatasetUnavailable, CheckpointFolderFull) as error:
            job_log.error("failed: %s", error)
            outcome = Outcome(JobStatus.failed, one_line(str(error)))
        except OperationalError as error:
            # Not the job's fault: leave it running under our name; once our heartbeat is stale, a worker
            # that can reach the database requeues it and resumes from the last checkpoint.
            job_log.warning("lost the database mid-job (%s): leaving the job to be requeued", first_line(error))
            return
        except Exception as error:  # the job fails; the worker lives on for the next one
            # The traceback goes to the worker's log (with the job id); the client gets one line.
            job_log.exception("failed")
            outcome = Outcome(JobStatus.failed, one_line(f"{type(error).__name__}: {error}"))
        if outcome.status is None and not self.shutting_down.is_set():
            job_log.info("given up: out of contact or taken over; it resumes from its last checkpoint")
            return
        try:
            with self.sessions.begin() as session:
                if outcome.status is not None:
                    jobs.finish(session, job_id=job.id, worker_id=self.id, status=outcome.status, error=outcome.error,
                                stopped_early=outcome.stopped_early)
                else:
                    jobs.hand_back(session, job_id=job.id, worker_id=self.id)
        except OperationalError as error:
            job_log.warning("could not record the outcome (%s): the job will be requeued and resumed",
                            first_line(error))
            return
        job_log.info("%s", outcome.status.value if outcome.status else "handed back")

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

    def _environment(self, dataset: str) -> dict[str, str]:
        """What reproduces a job beside its config and seed: the code's versions and the exact data."""
        if dataset not in self._digests:
            self._digests[dataset] = datasets.digest(self.settings.datasets_dir, dataset)
        return {"mnistlab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                "dataset_sha256": self._digests[dataset]}

    def _train(self, job: Job, job_log: logging.LoggerAdapter) -> Outcome:
        """Resume or start, train epoch by epoch (each saved, then recorded), then say how it ended."""
        try:
            device = devices.resolve(job.device)
        except RuntimeError as error:
            return Outcome(JobStatus.failed, str(error))
        config = job.config
        heartbeat = JobHeartbeat(self.sessions, job_id=job.id, worker_id=self.id, epochs=config.epochs,
                                 interval=self.settings.heartbeat_interval, lease=self.settings.heartbeat_timeout,
                                 start_epoch=job.last_epoch or 0, log=job_log)
        with heartbeat:  # beating before the data loads, so a slow load never looks like a dead worker
            train, test = self._load(config.dataset, device)
            state = self._resume_or_start(job, device, job_log)
            with self.sessions() as session:  # a search's trial with a pruner reports each epoch to Optuna
                trial = sweeps.reporter_for(session, self.studies, job)

            def should_stop(done: int, total: int) -> bool:
                heartbeat.batch_done(state.epoch, done, total)
                return self.shutting_down.is_set() or heartbeat.ownership != jobs.Ownership.keep

            stop: str | None = None
            # Decided from the history before each epoch, so a job killed right after its stopping epoch
            # stops on resume instead of training one more.
            while state.epoch < config.epochs and not (stop := early_stop_reason(config.early_stopping, [
                    metric["test_accuracy"] for metric in state.history])):
                try:
                    metric = run_epoch(state, train, test, batch_size=config.batch_size, on_batch=should_stop)
                except Stopped:
                    if self.shutting_down.is_set() and heartbeat.ownership == jobs.Ownership.keep:
                        # Save where this epoch stopped: the next worker continues from this very batch.
                        checkpoints.save_atomic(checkpoint_payload(state, config), self._path(job, "last"))
                    break
                if heartbeat.ownership == jobs.Ownership.lost:  # fenced off during evaluation: write nothing
                    return Outcome(None)
                self._save_epoch(job, state)
                heartbeat.epoch_done(state.epoch, metric["seconds"])
                if not self._record_epoch(job, state, metric, job_log):
                    return Outcome(None)
                if trial is not None and state.epoch < config.epochs and \
                        trial.should_prune(state.epoch, metric["test_accuracy"]):
                    job_log.info("pruned after epoch %s", state.epoch)
                    return Outcome(JobStatus.pruned, stopped_early=f"pruned by its sweep's pruner after epoch "
                                                                  f"{state.epoch}")
        return self._ending(state, config.epochs, stop, heartbeat.ownership, job_log)

    def _path(self, job: Job, which: str) -> Path:
        return checkpoints.checkpoint_path(self.settings.checkpoint_dir, job.id, which)

    def _resume_or_start(self, job: Job, device: torch.device, job_log: logging.LoggerAdapter) -> TrainState:
        """The state to train from (the last checkpoint's, else fresh), recorded as the job's running details."""
        config, last_path = job.config, self._path(job, "last")
        if last_path.exists():
            state = restore_state(checkpoints.load(last_path, map_location=device), config, device)
            job_log.info("resumes after epoch %s, batch %s", state.epoch, state.step_in_epoch)
        else:
            state = new_state(config, device)
            job_log.info("first batch %.2fs after submission", time.time() - job.created_at.timestamp())
        with self.sessions.begin() as session:
            jobs.set_running_details(session, job_id=job.id, worker_id=self.id, ran_on=devices.describe(device),
                                     init_hash=initial_weights_hash(config.model, config.hidden, config.seed),
                                     environment=self._environment(config.dataset))
            # An epoch whose checkpoint landed but whose row did not (killed in between) is recorded now.
            for metric in state.history:
                jobs.insert_metric_once(session, job_id=job.id, metric=metric)
        return state

    def _save_epoch(self, job: Job, state: TrainState) -> None:
        """Best first, then last: killed in between, the job redoes this epoch and writes both again."""
        payload, last_path = checkpoint_payload(state, job.config), self._path(job, "last")
        try:
            if state.best_epoch == state.epoch:
                best_path = self._path(job, "best")
                checkpoints.save_atomic(payload, best_path)
                checkpoints.copy_atomic(best_path, last_path)  # the same checkpoint: linked, not written twice
            else:
                checkpoints.save_atomic(payload, last_path)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # save_atomic wrote to a temp file and removed it: the checkpoints of earlier epochs are as they were.
            raise CheckpointFolderFull(
                f"the checkpoint folder {self.settings.checkpoint_dir} is full ({error.strerror}) at epoch "
                f"{state.epoch}'s checkpoint; the earlier epochs' checkpoints are intact: free space there and "
                f"run the job again") from None

    def _record_epoch(self, job: Job, state: TrainState, metric: dict[str, float],
                      job_log: logging.LoggerAdapter) -> bool:
        """The epoch's row, written after its checkpoint; False when the job is no longer this worker's."""
        with self.sessions.begin() as session:
            if not jobs.record_epoch(session, job_id=job.id, worker_id=self.id, metric=metric,
                                     best_epoch=state.best_epoch, best_test_accuracy=state.best_test_accuracy):
                return False
        job_log.info("epoch %s/%s: loss %.4f, test accuracy %.4f (%.1fs)", state.epoch, job.config.epochs,
                     metric["loss"], metric["test_accuracy"], metric["seconds"])
        return True

    @staticmethod
    def _ending(state: TrainState, epochs: int, stop: str | None, ownership: jobs.Ownership,
                job_log: logging.LoggerAdapter) -> Outcome:
        """How the loop ended, as the job's outcome."""
        if ownership == jobs.Ownership.lost:
            return Outcome(None)
        if stop is not None:
            job_log.info("stopped early: %s", stop)
            return Outcome(JobStatus.succeeded, stopped_early=stop)
        if state.epoch >= epochs:
            return Outcome(JobStatus.succeeded)
        if ownership == jobs.Ownership.cancel:
            return Outcome(JobStatus.cancelled)
        return Outcome(None)  # shutting down: the caller hands the job back
