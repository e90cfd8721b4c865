"""GET /spec, the OpenAPI schema and the dashboard all show the one job spec."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mnistlab import spec


def test_spec_lists_what_post_jobs_accepts(client: TestClient) -> None:
    described = client.get("/spec").json()
    assert described == spec.describe()
    openapi = client.get("/openapi.json").json()["components"]["schemas"]
    request = openapi["JobRequest"]["properties"]
    assert request["optimizer"]["enum"] == [o["name"] for o in described["optimizers"]]
    assert request["model"]["enum"] == [m["name"] for m in described["models"]]
    assert request["dataset"]["enum"] == [d["name"] for d in described["datasets"]]
    assert {"momentum", "nesterov", "weight_decay"} <= set(request) <= set(openapi["JobOut"]["properties"]) | {"seed"}


def test_every_optimizer_in_the_spec_is_accepted(client: TestClient) -> None:
    for optimizer in client.get("/spec").json()["optimizers"]:
        job = client.post("/jobs", json={"dataset": "mnist", "model": "linear", "optimizer": optimizer["name"]})
        assert job.status_code == 201, job.text
        assert job.json()["lr"] == optimizer["default_lr"]
        for knob, option in optimizer["options"].items():
            assert job.json()[knob] == option["default"]


def test_the_dashboard_has_no_choices_of_its_own(client: TestClient) -> None:
    page = client.get("/").text
    assert "<option>" not in page and 'fetch' in page and '"/spec"' in page
