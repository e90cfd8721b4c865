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
    """The form's choices come from GET /spec: no optimizer, model or schedule is written in the page."""
    from tests.helpers.pages import dashboard_files

    files = dashboard_files(client)
    assert 'api("/spec")' in files["/static/js/api.js"].decode()
    form = ("/", "/static/js/jobform.js", "/static/js/views/jobs.js")  # (the sweeps view's example body names some)
    page = "\n".join(files[path].decode() for path in form)
    spec = client.get("/spec").json()
    for choice in [*(o["name"] for o in spec["optimizers"]), *(m["name"] for m in spec["models"])]:
        assert f"<option>{choice}</option>" not in page, choice  # (a preferred default may be named)
    for knob in [*spec["lr_schedules"][1:], "momentum", "weight_decay", "patience", "rotation"]:
        assert knob not in page, knob
