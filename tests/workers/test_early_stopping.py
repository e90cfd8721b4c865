"""Early stopping through the API and a real worker: the job ends `succeeded`, says why, keeps its epochs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mnistlab.settings import Settings
from tests.helpers.jobs import QUICK_JOB
from workers.worker import Worker

pytestmark = pytest.mark.datasets


def test_a_job_that_meets_its_target_stops_after_that_epoch(client: TestClient, settings: Settings) -> None:
    job = client.post("/jobs", json={**QUICK_JOB, "epochs": 6, "lr_schedule": "cosine",
                                     "early_stopping": {"target_test_accuracy": 0.5}}).json()
    assert job["lr_schedule"] == "cosine"
    assert job["early_stopping"] == {"patience": None, "min_delta": 0.0, "target_test_accuracy": 0.5}
    assert Worker(settings).run(burst=True) == 1
    done = client.get(f"/jobs/{job['id']}").json()
    metrics = client.get(f"/jobs/{job['id']}/metrics").json()
    # The linear model passes 50% test accuracy in its first epoch, even on the small data set.
    assert done["status"] == "succeeded" and len(metrics) == 1 and metrics[0]["test_accuracy"] >= 0.5
    assert done["stopped_early"].startswith("reached the target test accuracy 0.5 at epoch 1")
    assert done["progress"]["epoch"] == 1 and done["progress"]["fraction"] == 1.0
    assert client.get(f"/jobs/{job['id']}/checkpoint?which=best").status_code == 200


def test_patience_stops_a_job_that_no_longer_gains(client: TestClient, settings: Settings) -> None:
    # A learning rate this small barely moves the weights: no epoch gains more than 0.5 points.
    job = client.post("/jobs", json={**QUICK_JOB, "epochs": 8, "lr": 1e-7,
                                     "early_stopping": {"patience": 2, "min_delta": 0.005}}).json()
    assert Worker(settings).run(burst=True) == 1
    done = client.get(f"/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["progress"]["epoch"] == 3
    assert done["stopped_early"].startswith("no gain above 0.005 in test accuracy for 2 epochs")
    assert len(client.get(f"/jobs/{job['id']}/metrics").json()) == 3


def test_a_job_without_early_stopping_runs_every_epoch(client: TestClient, settings: Settings) -> None:
    job = client.post("/jobs", json=QUICK_JOB).json()
    assert job["early_stopping"] is None and job["lr_schedule"] == "constant"
    assert Worker(settings).run(burst=True) == 1
    done = client.get(f"/jobs/{job['id']}").json()
    assert done["stopped_early"] is None and len(client.get(f"/jobs/{job['id']}/metrics").json()) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"early_stopping": {}}, "needs patience or target_test_accuracy"),
    ({"early_stopping": {"patience": 0}}, "greater than or equal to 1"),
    ({"early_stopping": {"target": 0.9}}, "target"),
    ({"lr_schedule": "step"}, "'constant', 'cosine' or 'onecycle'"),
])
def test_bad_schedules_and_stopping_rules_are_422_naming_the_field(client: TestClient, fields: dict,
                                                                    message: str) -> None:
    response = client.post("/jobs", json={**QUICK_JOB, **fields})
    assert response.status_code == 422 and message in response.text, response.text
