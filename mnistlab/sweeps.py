"""Running sweeps: trials as ordinary jobs, searches asked from and told to an Optuna study.

A search's study lives in Optuna's RDB storage in mnistlab's own database (SQLite or PostgreSQL), named
`mnistlab-sweep-{id}`. Ask-and-tell: `advance` (run by the API's sweeper, service/sweeper.py) tells the
study how ended trials did and asks new ones while fewer than `max_parallel` are queued or running; a
worker reports each epoch's test accuracy to its trial and ends the job `pruned` when the pruner says so.
Optuna is always called outside mnistlab's own write transactions: on SQLite both share one write lock.
Only the sweeper asks trials, so no two processes ever ask at once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mnistlab.db import utcnow
from mnistlab import jobs
from mnistlab.spec import MAX_SEED, JobRequest, JobStatus, SweepStatus
from mnistlab.sweep_spec import FloatRange, SweepRequest
from mnistlab.tables import Job, Sweep

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
DEFAULT_MAX_PARALLEL = 4
ACTIVE = [status for status in SweepStatus if status.active]


def study_name(sweep_id: int) -> str:
    return f"mnistlab-sweep-{sweep_id}"


class StudyStorage:
    """Optuna's RDB storage on mnistlab's database: made on first use, closed with its owner (the API's
    state, a worker), so no connection outlives them."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._storage: optuna.storages.RDBStorage | None = None
        self._lock = threading.Lock()  # the API's sweeper and its routes reach for it from several threads

    def get(self) -> "optuna.storages.RDBStorage":
        with self._lock:
            if self._storage is None:
                import optuna
                from sqlalchemy.exc import IntegrityError

                optuna.logging.set_verbosity(optuna.logging.WARNING)
                try:
                    self._storage = optuna.storages.RDBStorage(self.db_url)
                except IntegrityError:
                    # Another process created Optuna's tables and stamped their version between this one's
                    # look and its stamp (seen with a worker and the API starting together): they exist now.
                    self._storage = optuna.storages.RDBStorage(self.db_url)
            return self._storage

    def close(self) -> None:
        if self._storage is not None:
            self._storage.remove_session()
            self._storage.engine.dispose()
            self._storage = None

    def __enter__(self) -> "StudyStorage":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _sampler(request: SweepRequest, trial_number: int = 0) -> "optuna.samplers.BaseSampler":
    """Seeded per trial: the study is loaded afresh for each look, so a sampler's own random state would
    start over every time (and ask the same point again)."""
    import optuna

    assert request.search is not None
    seed = None if request.search.seed is None else request.search.seed + trial_number
    if request.search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(request: SweepRequest, epochs: int) -> "optuna.pruners.BasePruner":
    import optuna

    if request.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if request.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs)
    return optuna.pruners.NopPruner()


def load_study(storage: StudyStorage, sweep: Sweep) -> "optuna.Study":
    import optuna

    request = SweepRequest.model_validate(sweep.request)
    epochs = int(request.base.get("epochs", JobRequest.model_fields["epochs"].default))
    return optuna.load_study(study_name=study_name(sweep.id), storage=storage.get(), sampler=_sampler(request),
                             pruner=_pruner(request, epochs))


def create(sessions: sessionmaker, storage: StudyStorage, request: SweepRequest) -> int:
    """The sweep, and all its jobs (a grid) or its Optuna study (a search). -> sweep id"""
    with sessions.begin() as session:
        sweep = Sweep(name=request.name, kind=request.kind, request=request.model_dump(mode="json"),
                      planned=request.planned, status=SweepStatus.running)
        session.add(sweep)
        session.flush()
        sweep_id = sweep.id
        if request.grid is not None:  # every point at once: the queue runs them as workers free up
            for trial, params in enumerate(request.grid_points()):
                _add_trial_job(session, sweep_id, trial, request, params)
    if request.search is not None:
        import optuna

        # Its trials are asked by the sweeper alone (the one API process holding its lock), within a
        # second: two askers at once would ask one trial too many.
        optuna.create_study(study_name=study_name(sweep_id), storage=storage.get(), direction="maximize",
                            sampler=_sampler(request))
    return sweep_id


def _add_trial_job(session: Session, sweep_id: int, trial: int, request: SweepRequest,
                   params: dict[str, Any]) -> Job:
    config = request.job_request(params).resolve(seed=secrets.randbelow(MAX_SEED + 1))
    job = Job.from_config(config, status=JobStatus.queued, sweep_id=sweep_id, trial=trial)
    session.add(job)
    return job


def _suggest(trial: "optuna.Trial", name: str, values: FloatRange | list[Any]) -> Any:
    if isinstance(values, FloatRange):
        return trial.suggest_float(name, values.low, values.high, log=values.log)
    return trial.suggest_categorical(name, values)


def _queue_trial(sessions: sessionmaker, study: "optuna.Study", request: SweepRequest, sweep_id: int,
                 trial: "optuna.Trial", *, cancelled: bool = False) -> Job:
    """The trial's settings (those it was given already are kept) and its job."""
    assert request.search is not None
    params = {name: _suggest(trial, name, values) for name, values in request.search.space.items()}
    with sessions.begin() as session:
        job = _add_trial_job(session, sweep_id, trial.number, request, params)
        if cancelled:  # adopted by a cancelled sweep: it ends at once, and the study is told so with the rest
            session.flush()
            jobs.request_cancel(session, job)
        return job


def advance(sessions: sessionmaker, storage: StudyStorage, sweep_id: int, *, reads: sessionmaker | None = None) -> None:
    """Tell the study how ended trials did, ask new ones up to max_parallel, finish the sweep when done.
    reads: a read-only session factory for the looks (on SQLite they then never take the write lock)."""
    import optuna
    from optuna.trial import TrialState

    with (reads or sessions)() as session:
        sweep = session.get(Sweep, sweep_id)
        if sweep is None or not sweep.status.active:
            return
        request = SweepRequest.model_validate(sweep.request)
        trials = list(session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.trial)))
    if request.search is not None:
        study = load_study(storage, sweep)
        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        for job in trials:
            if job.status.ended and states.get(job.trial) in (TrialState.RUNNING, TrialState.WAITING):
                if job.status == JobStatus.succeeded and job.best_test_accuracy is not None:
                    study.tell(job.trial, job.best_test_accuracy)
                elif job.status == JobStatus.pruned:
                    study.tell(job.trial, state=TrialState.PRUNED)
                else:
                    study.tell(job.trial, state=TrialState.FAIL)
        # A trial asked by a sweeper that died before writing its job: it gets its job now (asking is two
        # steps, Optuna's commit then ours; only the sweeper asks, so a RUNNING trial without a job is one).
        with_jobs = {job.trial for job in trials}
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen.number not in with_jobs:
                log.warning("sweep %s: trial %s was asked but has no job (its asker stopped): queueing it",
                            sweep_id, frozen.number)
                study.sampler = _sampler(request, frozen.number)
                trials.append(_queue_trial(sessions, study, request, sweep_id, optuna.Trial(study, frozen._trial_id),  # noqa: SLF001
                                           cancelled=sweep.status == SweepStatus.cancelling))
        active = sum(1 for job in trials if not job.status.ended)
        limit = request.max_parallel or DEFAULT_MAX_PARALLEL
        while sweep.status == SweepStatus.running and active < limit and len(trials) < request.planned:
            study.sampler = _sampler(request, len(trials))
            trials.append(_queue_trial(sessions, study, request, sweep_id, study.ask()))
            active += 1
    # From the trials as read above (a trial asked just now is queued): a write only when the sweep ends.
    ended = sum(1 for job in trials if job.status.ended)
    if sweep.status == SweepStatus.cancelling and ended == len(trials):
        _settle(sessions, sweep_id, SweepStatus.cancelling, SweepStatus.cancelled)
    elif ended >= request.planned:
        _settle(sessions, sweep_id, SweepStatus.running, SweepStatus.finished)


def _settle(sessions: sessionmaker, sweep_id: int, was: SweepStatus, now: SweepStatus) -> None:
    """The sweep's last transition, made only from the state it was read in (a cancel in between wins)."""
    with sessions.begin() as session:
        session.execute(update(Sweep).where(Sweep.id == sweep_id, Sweep.status == was)
                        .values(status=now, finished_at=utcnow()))


def request_cancel(session: Session, sweep: Sweep) -> None:
    """No new trial is asked; queued trials end now, running ones at their next batch. The sweeper tells the
    study how they ended, then calls the sweep cancelled."""
    if sweep.status == SweepStatus.running:
        sweep.status = SweepStatus.cancelling
    for job in session.scalars(select(Job).where(Job.sweep_id == sweep.id)):
        if not job.status.ended:
            jobs.request_cancel(session, job)
    session.flush()


def advance_all(sessions: sessionmaker, reads: sessionmaker, storage: StudyStorage) -> None:
    """Every unfinished sweep, one step each; looked up with `reads`, so an idle tick writes nothing."""
    with reads() as session:
        running = list(session.scalars(select(Sweep.id).where(Sweep.status.in_(ACTIVE))))
    for sweep_id in running:
        try:
            advance(sessions, storage, sweep_id, reads=reads)
        except Exception:  # one broken sweep must not stop the others (nor the sweeper)
            log.exception("advancing sweep %s failed", sweep_id)


class TrialReporter:
    """A worker's line to its job's trial: report each epoch, and ask whether to stop (pruned)."""

    def __init__(self, storage: StudyStorage, sweep: Sweep, trial_number: int) -> None:
        import optuna

        self._study = load_study(storage, sweep)
        trial_id = self._study._storage.get_trial_id_from_study_id_trial_number(  # noqa: SLF001
            self._study._study_id, trial_number)  # noqa: SLF001
        self._trial = optuna.Trial(self._study, trial_id)

    def should_prune(self, epoch: int, test_accuracy: float) -> bool:
        if epoch not in self._trial.storage.get_trial(self._trial._trial_id).intermediate_values:  # noqa: SLF001
            self._trial.report(test_accuracy, epoch)
        return self._trial.should_prune()


def reporter_for(session: Session, storage: StudyStorage, job: Job) -> TrialReporter | None:
    """The job's trial reporter when it belongs to a search with a pruner, else None."""
    if job.sweep_id is None or job.trial is None:
        return None
    sweep = session.get(Sweep, job.sweep_id)
    if sweep is None or sweep.kind != "search" or sweep.request.get("pruner", "none") == "none":
        return None
    return TrialReporter(storage, sweep, job.trial)
