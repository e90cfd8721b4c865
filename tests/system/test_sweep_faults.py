"""A worker SIGKILLed mid-sweep: its trial resumes on another worker, and Optuna's study agrees with the jobs."""

from __future__ import annotations

import signal

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState

from mnistlab import sweeps
from tests.helpers.postgres import both_databases
from tests.helpers.servers import Processes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]

SEARCH = {"name": "killed mid-sweep", "base": {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 4,
                                                "seed": 5, "device": "cpu"},
          "search": {"sampler": "tpe", "trials": 4, "seed": 1,
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
    assert done["status"] == "finished" and done["counts"] == {"succeeded": 4}  # exactly its planned trials
    resumed = client.get(f"/jobs/{victim['id']}").json()
    assert resumed["attempts"] == 2 and resumed["progress"]["epoch"] == 4
    epochs = [m["epoch"] for m in client.get(f"/jobs/{victim['id']}/metrics").json()]
    assert epochs == [1, 2, 3, 4]  # each once, though it was killed mid-way
    with sweeps.StudyStorage(settings.db_url) as storage:
        study = optuna.load_study(study_name=sweeps.study_name(sweep_id), storage=storage.get())
        trials = {trial.number: trial for trial in study.get_trials()}
    assert sorted(trials) == sorted(row["trial"] for row in done["leaderboard"]) == [0, 1, 2, 3]
    for row in done["leaderboard"]:
        assert trials[row["trial"]].state == TrialState.COMPLETE
        assert trials[row["trial"]].value == row["best_test_accuracy"]
        assert trials[row["trial"]].params == row["params"]
    assert second.poll() is None
