"""A worker SIGKILLed mid-sweep: its trial resumes on another worker, and Optuna's study agrees with the jobs."""

from __future__ import annotations

import signal
import subprocess
import sys

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState
from sqlalchemy import select

from mnistlab import sweeps
from mnistlab.spec import JobStatus, SweepStatus
from mnistlab.sweep_spec import SweepRequest
from mnistlab.tables import Job, Sweep
from tests.helpers.postgres import both_databases
from tests.helpers.servers import REPO, Processes, settings_env, wait_for
from workers.worker import Worker

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

SEARCH = {"name": "killed mid-sweep", "base": {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3,
                                                "seed": 5, "device": "cpu"},
          "search": {"sampler": "tpe", "trials": 3, "seed": 1,
                     "space": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "batch_size": [64, 128]}},
          "max_parallel": 2}


@both_databases
def test_a_worker_killed_mid_sweep_costs_no_trial(client: TestClient, processes: Processes, settings) -> None:  # type: ignore[no-untyped-def]
    sweep_id = client.post("/sweeps", json=SEARCH).json()["id"]
    first, second = processes.worker(), processes.worker()

    def a_trial_of_the_first_worker_mid_epoch() -> dict | None:
        for row in client.get(f"/sweeps/{sweep_id}").json()["leaderboard"]:
            job = client.get(f"/jobs/{row['job_id']}").json()
            if job["status"] == "running" and (job["worker_id"] or "").split("-")[-2] == str(first.pid) \
                    and job["progress"]["epoch"] >= 1 and job["progress"]["fraction"] > 0.2:
                return job
        return None

    victim = wait_for(a_trial_of_the_first_worker_mid_epoch, timeout=180, what="a trial half-way on worker 1")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = wait_for(lambda: (s := client.get(f"/sweeps/{sweep_id}").json())["status"] != "running" and s,
                    timeout=600, what="the sweep to finish")
    assert done["status"] == "finished" and done["counts"] == {"succeeded": 3}  # exactly its planned trials
    resumed = client.get(f"/jobs/{victim['id']}").json()
    assert resumed["attempts"] == 2 and resumed["progress"]["epoch"] == 3
    epochs = [m["epoch"] for m in client.get(f"/jobs/{victim['id']}/metrics").json()]
    assert epochs == [1, 2, 3]  # each once, though it was killed mid-way
    with sweeps.StudyStorage(settings.db_url) as storage:
        study = optuna.load_study(study_name=sweeps.study_name(sweep_id), storage=storage.get())
        trials = {trial.number: trial for trial in study.get_trials()}
    assert sorted(trials) == sorted(row["trial"] for row in done["leaderboard"]) == [0, 1, 2]
    for row in done["leaderboard"]:
        assert trials[row["trial"]].state == TrialState.COMPLETE
        assert trials[row["trial"]].value == row["best_test_accuracy"]
        assert trials[row["trial"]].params == row["params"]
    assert second.poll() is None


# The API's sweeper, in a process of its own, that dies the moment Optuna has committed a trial it asked:
# before the trial's job is written.
DIES_AFTER_ASK = """
import os, sys
import optuna
from mnistlab import sweeps
from mnistlab.db import make_engine, make_sessions

asked = optuna.Study.ask
def ask_then_die(study, *args, **kwargs):
    asked(study, *args, **kwargs)
    os._exit(17)
optuna.Study.ask = ask_then_die
with sweeps.StudyStorage(os.environ["MNISTLAB_DATABASE_URL"]) as storage:
    sweeps.advance(make_sessions(make_engine(os.environ["MNISTLAB_DATABASE_URL"])), storage, int(sys.argv[1]))
"""


def test_a_sweeper_that_dies_right_after_asking_costs_no_trial(settings, sessions) -> None:  # type: ignore[no-untyped-def]
    request = SweepRequest.model_validate({
        "name": "asker dies", "max_parallel": 1,
        "base": {"dataset": "mnist", "model": "linear", "optimizer": "sgd", "epochs": 1, "batch_size": 500, "seed": 3},
        "search": {"sampler": "random", "trials": 3, "seed": 2, "space": {"lr": {"low": 0.01, "high": 0.5}}}})
    with sweeps.StudyStorage(settings.db_url) as storage:
        sweep_id = sweeps.create(sessions, storage, request)
        died = subprocess.run([sys.executable, "-c", DIES_AFTER_ASK, str(sweep_id)], env=settings_env(settings),
                              cwd=REPO, capture_output=True, timeout=120)
        assert died.returncode == 17, died.stderr.decode()
        study = optuna.load_study(study_name=sweeps.study_name(sweep_id), storage=storage.get())
        assert [trial.state for trial in study.get_trials()] == [TrialState.RUNNING]  # asked, and no job for it
        with sessions() as session:
            assert session.scalars(select(Job).where(Job.sweep_id == sweep_id)).all() == []

        for _ in range(2 * request.planned):  # the next sweeper takes over: one trial at a time (max_parallel 1)
            sweeps.advance(sessions, storage, sweep_id)
            Worker(settings).run(burst=True)
        sweeps.advance(sessions, storage, sweep_id)
        with sessions() as session:
            assert session.get(Sweep, sweep_id).status == SweepStatus.finished
            trial_jobs = {job.trial: job for job in session.scalars(select(Job).where(Job.sweep_id == sweep_id))}
        trials = {trial.number: trial for trial in study.get_trials()}
    assert sorted(trial_jobs) == sorted(trials) == [0, 1, 2]  # exactly its planned trials, no gap
    for number, trial in trials.items():
        job = trial_jobs[number]
        assert job.status == JobStatus.succeeded and trial.state == TrialState.COMPLETE
        assert trial.value == job.best_test_accuracy and trial.params == {"lr": job.lr}
