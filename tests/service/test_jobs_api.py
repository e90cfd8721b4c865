import io

import pytest
import torch
from fastapi.testclient import TestClient

from mnistlab import jobs
from models_store.architectures import build_model
from tests.helpers.jobs import DEFAULTS_JOB, QUICK_JOB
from tests.helpers.postgres import both_databases
from workers.worker import Worker

pytestmark = both_databases


def test_a_posted_job_is_queued_with_its_defaults_filled_in(client: TestClient) -> None:
    response = client.post("/jobs", json=DEFAULTS_JOB)
    assert response.status_code == 201
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["batch_size"] == 128 and job["lr"] == 0.001
    assert job["device"] == "auto" and job["seed"] == 0
    assert job["momentum"] is None and job["nesterov"] is None and job["weight_decay"] is None  # not Adam's knobs
    assert (job["steps_per_epoch"], job["last_batch_size"]) == (469, 96)
    assert "no live worker" in job["waiting_for"]
    assert client.get(f"/jobs/{job['id']}").json()["init_hash"] == job["init_hash"]


def test_without_a_seed_a_random_one_is_recorded(client: TestClient) -> None:
    seeds = {client.post("/jobs", json={**DEFAULTS_JOB, "seed": None}).json()["seed"] for _ in range(3)}
    assert len(seeds) == 3


def test_sgd_defaults_and_the_lab_dataloader_question(client: TestClient) -> None:
    job = client.post("/jobs", json={"dataset": "fashion-mnist", "model": "ffnn", "optimizer": "sgd",
                                     "batch_size": 64, "momentum": 0.9}).json()
    assert job["lr"] == 0.005 and job["hidden"] == 128 and job["epochs"] == 100
    assert (job["momentum"], job["nesterov"], job["weight_decay"]) == (0.9, False, None)
    assert (job["steps_per_epoch"], job["last_batch_size"]) == (938, 32)


def test_augmentation_by_preset_is_recorded_as_the_values_it_stands_for(client: TestClient) -> None:
    job = client.post("/jobs", json={**DEFAULTS_JOB, "model": "convnet", "augmentation": "clothes",
                                     "label_smoothing": 0.1}).json()
    assert job["model"] == "convnet" and job["label_smoothing"] == 0.1
    assert job["augmentation"] == {"rotation": 0.0, "scale": 0.0, "translation": 0.1, "flip": 0.5, "erasing": 0.0}
    assert client.get(f"/jobs/{job['id']}").json()["augmentation"] == job["augmentation"]
    plain = client.post("/jobs", json=DEFAULTS_JOB).json()
    assert plain["augmentation"] is None and plain["label_smoothing"] == 0.0


def test_adamw_and_nesterov_are_options_like_momentum(client: TestClient) -> None:
    adamw = client.post("/jobs", json={**DEFAULTS_JOB, "optimizer": "adamw"}).json()
    assert (adamw["optimizer"], adamw["lr"], adamw["weight_decay"], adamw["momentum"]) == ("adamw", 0.001, 0.01, None)
    assert client.post("/jobs", json={**DEFAULTS_JOB, "optimizer": "adamw", "weight_decay": 0.1}).json()["weight_decay"] == 0.1
    nesterov = client.post("/jobs", json={**DEFAULTS_JOB, "optimizer": "sgd", "momentum": 0.9, "nesterov": True}).json()
    assert (nesterov["momentum"], nesterov["nesterov"], nesterov["weight_decay"]) == (0.9, True, None)


def test_unknown_jobs_are_404(client: TestClient) -> None:
    for path in ("/jobs/999", "/jobs/999/metrics", "/jobs/999/checkpoint"):
        assert client.get(path).status_code == 404, path
    assert client.post("/jobs/999/cancel").status_code == 404
    assert client.get("/jobs/abc").status_code == 422


def test_ids_and_offsets_beyond_64_bits_are_422_not_500(client: TestClient) -> None:
    """Regressions: fuzzing found a job id past 2**63-1 and an unbounded offset each answered 500."""
    assert client.get(f"/jobs/{2**63 - 1}").status_code == 404  # the largest id a database key holds
    for path in (f"/jobs/{2**63}", f"/jobs/{2**63}/metrics", f"/jobs/{2**64}/checkpoint", f"/jobs?offset={2**63}",
                 f"/compare?jobs=1,{2**63}"):
        response = client.get(path)
        assert response.status_code == 422, (path, response.status_code)
    assert client.post("/predict", params={"job_id": 2**63}, content=b"x").status_code == 422


def test_listing_is_newest_first_and_filters(client: TestClient) -> None:
    ids = [client.post("/jobs", json={**DEFAULTS_JOB, "dataset": d}).json()["id"]
           for d in ("mnist", "fashion-mnist", "mnist")]
    listing = client.get("/jobs").json()
    assert listing["total"] == 3 and [j["id"] for j in listing["jobs"]] == ids[::-1]
    assert [j["id"] for j in client.get("/jobs?dataset=mnist&limit=1").json()["jobs"]] == [ids[2]]
    assert client.get("/jobs?status=running").json()["total"] == 0
    assert client.get("/jobs?status=bogus").status_code == 422


def test_cancelling_a_queued_job_ends_it_and_a_second_cancel_conflicts(client: TestClient) -> None:
    job_id = client.post("/jobs", json=DEFAULTS_JOB).json()["id"]
    assert client.post(f"/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    response = client.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 409 and "already ended" in response.json()["detail"]
    assert client.get(f"/jobs/{job_id}/checkpoint").status_code == 409


def test_a_device_no_live_worker_has_is_422_and_one_it_has_is_accepted(client: TestClient, settings, sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:  # a CPU-only worker announces itself, as `mnistlab worker` does
        jobs.register_worker(session, worker_id="cpu-box", hostname="cpu-box", pid=1, devices=["cpu"])
    response = client.post("/jobs", json={**DEFAULTS_JOB, "device": "cuda"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "device"] and "no live worker has device 'cuda'" in response.text
    accepted = client.post("/jobs", json={**DEFAULTS_JOB, "device": "cpu"}).json()
    assert accepted["waiting_for"] == "a free worker"


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.datasets
def test_a_job_trained_by_a_worker_exposes_metrics_and_checkpoint(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json=QUICK_JOB).json()["id"]
    assert Worker(settings).run(burst=True) == 1
    job = client.get(f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["ran_on"] == "cpu" and job["attempts"] == 1
    assert job["progress"] == {"epoch": 2, "epochs": 2, "fraction": 1.0, "eta_seconds": None}
    metrics = client.get(f"/jobs/{job_id}/metrics").json()
    assert [m["epoch"] for m in metrics] == [1, 2] and job["latest"]["epoch"] == 2
    assert job["best"]["test_accuracy"] == max(m["test_accuracy"] for m in metrics)
    response = client.get(f"/jobs/{job_id}/checkpoint?which=last")
    assert response.status_code == 200
    payload = torch.load(io.BytesIO(response.content), weights_only=True)
    assert payload["epoch"] == 2 and payload["config"]["model"] == "linear"
    build_model("linear").load_state_dict(payload["model"])
    assert client.get(f"/jobs/{job_id}/checkpoint?which=../../etc/passwd").status_code == 422


@pytest.mark.datasets
def test_adamw_and_nesterov_jobs_train_with_their_knobs(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    adamw = client.post("/jobs", json={**QUICK_JOB, "optimizer": "adamw", "weight_decay": 0.05}).json()["id"]
    nesterov = client.post("/jobs", json={**QUICK_JOB, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                                          "nesterov": True}).json()["id"]
    assert Worker(settings).run(burst=True) == 2
    for job_id, expected in ((adamw, {"weight_decay": 0.05}), (nesterov, {"momentum": 0.9, "nesterov": True})):
        job = client.get(f"/jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["best"]["test_accuracy"] > 0.8, job
        payload = torch.load(io.BytesIO(client.get(f"/jobs/{job_id}/checkpoint?which=last").content), weights_only=True)
        assert payload["config"]["optimizer_params"] == expected
        group = payload["optimizer"]["param_groups"][0]  # what the optimizer itself ran with
        assert {knob: group[knob] for knob in expected} == expected
