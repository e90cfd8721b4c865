"""Sweeps through the API with a real worker and a real Optuna study in the same database."""

from __future__ import annotations

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.trial import TrialState

from mnistlab import sweeps
from mnistlab.db import make_engine, make_sessions
from mnistlab.settings import Settings
from tests.helpers.jobs import QUICK_JOB
from tests.helpers.servers import wait_for
from workers.worker import Worker

BASE = {key: value for key, value in QUICK_JOB.items() if key not in ("optimizer",)}


def _run_until_finished(client: TestClient, settings: Settings, sweep_id: int, *, one_by_one: bool = False) -> dict:
    """A worker drains the queue; the app's own sweeper tells Optuna and queues the next trials; until it ends.

    one_by_one: the worker takes one job at a time, and the next only once the sweeper has told Optuna how
    every ended job went, so a pruner judges each trial against every trial before it (not a race)."""
    for _ in range(20):
        if one_by_one:
            assert Worker(settings).run(burst=True, max_jobs=1) == 1
            wait_for(lambda: _ended_jobs_are_told(client, settings, sweep_id), timeout=30,
                     what="the sweeper to tell Optuna how the job went")
        else:
            Worker(settings).run(burst=True)

        def moved_on() -> dict | None:
            sweep = client.get(f"/sweeps/{sweep_id}").json()
            return sweep if sweep["status"] != "running" or sweep["counts"].get("queued") else None

        sweep = wait_for(moved_on, timeout=30, what="the sweeper to queue trials or end the sweep")
        if sweep["status"] != "running":
            return sweep
    pytest.fail(f"sweep {sweep_id} did not finish")


def _ended_jobs_are_told(client: TestClient, settings: Settings, sweep_id: int) -> bool:
    ended = sum(1 for row in client.get(f"/sweeps/{sweep_id}").json()["leaderboard"]
                if row["status"] in ("succeeded", "pruned", "failed", "cancelled"))
    with sweeps.StudyStorage(settings.db_url) as storage:
        study = optuna.load_study(study_name=sweeps.study_name(sweep_id), storage=storage.get())
        told = sum(1 for trial in study.get_trials() if trial.state != TrialState.RUNNING)
    return told == ended


@pytest.mark.datasets
def test_a_grid_runs_every_combination_once_and_ranks_them(client: TestClient, settings: Settings) -> None:
    created = client.post("/sweeps", json={"name": "sgd vs adam", "base": BASE,
                                           "grid": {"optimizer": ["sgd", "adam"], "model": ["linear", "ffnn"]}})
    assert created.status_code == 201, created.text
    sweep = created.json()
    assert sweep["kind"] == "grid" and sweep["planned"] == 4 and sweep["counts"] == {"queued": 4}
    params = sorted((row["params"]["optimizer"], row["params"]["model"]) for row in sweep["leaderboard"])
    assert params == [("adam", "ffnn"), ("adam", "linear"), ("sgd", "ffnn"), ("sgd", "linear")]
    done = _run_until_finished(client, settings, sweep["id"])
    assert done["status"] == "finished" and done["counts"] == {"succeeded": 4}
    accuracies = [row["best_test_accuracy"] for row in done["leaderboard"]]
    assert accuracies == sorted(accuracies, reverse=True) and done["best_job_id"] == done["leaderboard"][0]["job_id"]
    assert all(row["epochs_run"] == 2 and row["seconds"] > 0 for row in done["leaderboard"])
    job = client.get(f"/jobs/{done['best_job_id']}").json()
    assert job["status"] == "succeeded"
    plot = client.get(f"/sweeps/{sweep['id']}/plot.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    assert [s["id"] for s in client.get("/sweeps").json()] == [sweep["id"]]


@pytest.mark.slow  # five trials of three epochs
@pytest.mark.datasets
def test_a_search_asks_optuna_for_trials_and_the_study_agrees_with_the_jobs(client: TestClient,
                                                                            settings: Settings) -> None:
    request = {"name": "lr search", "base": {**BASE, "optimizer": "adam", "epochs": 3},
               "search": {"sampler": "random", "trials": 5, "seed": 0,
                          "space": {"lr": {"low": 1e-6, "high": 0.05, "log": True}, "batch_size": [50, 100]}},
               "pruner": "median", "max_parallel": 2}
    sweep = client.post("/sweeps", json=request).json()
    assert sweep["kind"] == "search" and sweep["counts"] == {}  # the sweeper asks the trials, not the request
    # The sweeper queues trials one by one, up to max_parallel (2), and no more while none has ended.
    wait_for(lambda: client.get(f"/sweeps/{sweep['id']}").json()["counts"].get("queued") == 2, timeout=30,
             what="the first two trials")
    engine = make_engine(settings.db_url)
    try:  # one more step of the sweeper's own, here and now: two are active, so it asks none
        with sweeps.StudyStorage(settings.db_url) as storage:
            sweeps.advance(make_sessions(engine), storage, sweep["id"])
    finally:
        engine.dispose()
    assert client.get(f"/sweeps/{sweep['id']}").json()["counts"] == {"queued": 2}
    done = _run_until_finished(client, settings, sweep["id"], one_by_one=True)
    assert done["status"] == "finished" and sum(done["counts"].values()) == 5
    assert done["counts"].get("pruned", 0) >= 1  # the trials with a tiny learning rate fall behind the median
    for figure in ("plot.png", "params.png"):
        response = client.get(f"/sweeps/{sweep['id']}/{figure}")
        assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    with sweeps.StudyStorage(settings.db_url) as storage:
        study = optuna.load_study(study_name=sweeps.study_name(sweep["id"]), storage=storage.get())
        by_number = {trial.number: trial for trial in study.get_trials()}
    assert sorted(by_number) == sorted(row["trial"] for row in done["leaderboard"]) == [0, 1, 2, 3, 4]
    for row in done["leaderboard"]:
        trial = by_number[row["trial"]]
        assert trial.params == row["params"]
        if row["status"] == "succeeded":
            assert trial.state == TrialState.COMPLETE and trial.value == row["best_test_accuracy"]
        else:
            assert row["status"] == "pruned" and trial.state == TrialState.PRUNED
            assert row["epochs_run"] < 3 and row["stopped_early"].startswith("pruned")


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x", "base": BASE, "grid": {"optimiser": ["sgd"]}}, "'optimiser' is not a job field"),
    ({"name": "x", "base": BASE, "grid": {"optimizer": ["sgd", "rmsprop"]}}, "optimizer='rmsprop'"),
    ({"name": "x", "base": BASE, "grid": {"optimizer": ["sgd"], "lr": [0.1] * 300}},
     "would run 300 jobs, more than the 256 allowed (MNISTLAB_MAX_SWEEP_JOBS)"),
    ({"name": "x", "base": BASE, "grid": {"optimizer": ["sgd"]}, "search": {"trials": 2, "space": {"lr": [0.1]}}},
     "give either grid or search"),
    ({"name": "x", "base": {**BASE, "optimizer": "adam"},
      "search": {"trials": 2, "space": {"lr": {"low": 0.1, "high": 0.01}}}}, "must be below high"),
    ({"name": "x", "base": {**BASE, "optimizer": "adam"}, "search": {"trials": 2, "space": {"momentum": [0.9]}}},
     "momentum applies to optimizer 'sgd' only"),
])
def test_bad_sweeps_are_422_and_create_nothing(client: TestClient, body: dict, message: str) -> None:
    response = client.post("/sweeps", json=body)
    assert response.status_code == 422 and message in response.text, response.text
    assert client.get("/sweeps").json() == [] and client.get("/jobs").json()["total"] == 0


def test_a_grid_over_the_convnet_and_augmentation_queues_jobs_that_train_as_asked(client: TestClient) -> None:
    created = client.post("/sweeps", json={"name": "does augmentation pay", "base": {**BASE, "optimizer": "adam"},
                                           "grid": {"model": ["cnn", "convnet"], "augmentation": ["none", "digits"]}})
    assert created.status_code == 201, created.text
    jobs = client.get("/jobs").json()["jobs"]
    trained = sorted((job["model"], job["augmentation"] is not None) for job in jobs)
    assert trained == [("cnn", False), ("cnn", True), ("convnet", False), ("convnet", True)]
    digits = next(job for job in jobs if job["augmentation"] is not None)
    assert digits["augmentation"] == client.get("/spec").json()["augmentation"]["presets"]["digits"]
    bad = client.post("/sweeps", json={"name": "x", "base": {**BASE, "optimizer": "adam"},
                                       "grid": {"augmentation": ["none", {"shear": 3}]}})
    assert bad.status_code == 422 and "shear" in bad.text
