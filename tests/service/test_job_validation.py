"""Job requests the API refuses before anything is written: 422s that name the field or say why. The
tests share one app per database (nothing they send is ever stored)."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers.jobs import DEFAULTS_JOB
from tests.helpers.postgres import create_database
from tests.helpers.servers import module_app


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def refusing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("refusals")
    (folder / "data").mkdir()
    database = {}  # SQLite in the home folder unless PostgreSQL
    if request.param == "postgresql":
        database["database_url"] = create_database(request.getfixturevalue("postgres_admin_url"),
                                                   copy_of=request.getfixturevalue("migrated_postgres"))
    with module_app(folder / "home", folder / "data", **database) as (client, _):
        yield client
        assert client.get("/jobs").json()["total"] == 0  # none of them made a job


@pytest.mark.parametrize(("change", "field"), [
    ({"dataset": "cifar10"}, "dataset"), ({"model": "resnet"}, "model"), ({"optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": 0}, "epochs"), ({"epochs": 1001}, "epochs"), ({"batch_size": -1}, "batch_size"),
    ({"lr": 0}, "lr"), ({"device": "tpu"}, "device"), ({"colour": "red"}, "colour"), ({"seed": -5}, "seed"),
    ({"augmentation": {"shear": 10}}, "shear"), ({"augmentation": {"rotation": 180}}, "rotation"),
    ({"augmentation": {"flip": 2}}, "flip"), ({"augmentation": "heavy"}, "augmentation"),
    ({"label_smoothing": 1}, "label_smoothing"),
])
def test_bad_fields_get_422_naming_the_field(refusing: TestClient, change: dict, field: str) -> None:
    response = refusing.post("/jobs", json={**DEFAULTS_JOB, **change})
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


def test_options_that_do_not_apply_are_refused(refusing: TestClient) -> None:
    response = refusing.post("/jobs", json={**DEFAULTS_JOB, "hidden": 64})
    assert response.status_code == 422 and "hidden applies to model 'ffnn'" in response.text
    response = refusing.post("/jobs", json={**DEFAULTS_JOB, "momentum": 0.9})
    assert response.status_code == 422 and "momentum applies to optimizer 'sgd'" in response.text


@pytest.mark.parametrize(("change", "message"), [
    ({"optimizer": "sgd", "nesterov": True}, "nesterov needs momentum > 0"),
    ({"optimizer": "sgd", "momentum": 0.0, "nesterov": True}, "nesterov needs momentum > 0"),
    ({"optimizer": "adam", "momentum": 0.9, "nesterov": True}, "momentum applies to optimizer 'sgd' only"),
    ({"optimizer": "adamw", "nesterov": True}, "nesterov applies to optimizer 'sgd' only, not 'adamw'"),
    ({"optimizer": "sgd", "weight_decay": 0.01}, "weight_decay applies to optimizer 'adamw' only, not 'sgd'"),
    ({"optimizer": "adam", "weight_decay": 0.01}, "weight_decay applies to optimizer 'adamw' only, not 'adam'"),
])
def test_knobs_of_another_optimizer_are_refused_saying_why(refusing: TestClient, change: dict, message: str) -> None:
    response = refusing.post("/jobs", json={**DEFAULTS_JOB, **change})
    assert response.status_code == 422 and message in response.text


@pytest.mark.parametrize(("change", "field"), [({"weight_decay": -0.1}, "weight_decay"), ({"weight_decay": 1}, "weight_decay"),
                                               ({"nesterov": "sometimes"}, "nesterov")])
def test_out_of_range_knobs_get_422_naming_the_field(refusing: TestClient, change: dict, field: str) -> None:
    response = refusing.post("/jobs", json={**DEFAULTS_JOB, "optimizer": "adamw" if "weight_decay" in change else "sgd",
                                          "momentum": 0.9 if "nesterov" in change else None, **change})
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])
