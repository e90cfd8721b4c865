"""Curves, comparisons, mistakes and confusion of real trained jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab import jobs
from mnistlab.settings import Settings
from service import plots
from tests.helpers.images import decode
from tests.helpers.servers import module_app
from workers.worker import Worker

pytestmark = pytest.mark.datasets

SGD = {"dataset": "mnist", "model": "ffnn", "hidden": 32, "optimizer": "sgd", "lr": 0.05, "epochs": 3,
       "batch_size": 100, "seed": 4}
ADAM = {**SGD, "optimizer": "adam", "lr": 0.001}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[tuple[TestClient, Settings, tuple[int, int]]]:
    """One app for the module, with an SGD and an Adam job trained once: the tests read them (and the cached
    test set and models), or add jobs of their own."""
    with module_app(tmp_path_factory.mktemp("analysis"), small_data_dir) as (client, settings):
        sgd = client.post("/jobs", json=SGD).json()["id"]
        adam = client.post("/jobs", json=ADAM).json()["id"]
        assert Worker(settings).run(burst=True) == 2
        yield client, settings, (sgd, adam)


@pytest.fixture(scope="module")
def client(lab) -> TestClient:  # type: ignore[no-untyped-def]
    return lab[0]


@pytest.fixture(scope="module")
def settings(lab) -> Settings:  # type: ignore[no-untyped-def]
    return lab[1]


@pytest.fixture(scope="module")
def trained(lab) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return lab[2]


def _png(response) -> Image.Image:  # type: ignore[no-untyped-def]
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = decode(response.content)
    assert image.format == "PNG" and 300 < image.width < 3000 and 200 < image.height < 3000
    return image


def test_misclassified_count_matches_the_checkpoint_accuracy(client: TestClient, trained) -> None:  # type: ignore[no-untyped-def]
    sgd, _ = trained
    job = client.get(f"/jobs/{sgd}").json()
    result = client.get(f"/jobs/{sgd}/misclassified?limit=5").json()
    assert result["model"]["epoch"] == job["best"]["epoch"] and result["test_images"] == 1000
    assert result["count"] == round((1 - job["best"]["test_accuracy"]) * result["test_images"])
    confidences = [m["confidence"] for m in result["examples"]]
    assert len(confidences) == 5 and confidences == sorted(confidences, reverse=True)
    assert all(m["true_label"] != m["predicted_label"] for m in result["examples"])
    _png(client.get(f"/jobs/{sgd}/misclassified.png?n=8"))


def test_confusion_matrix_adds_up(client: TestClient, trained) -> None:  # type: ignore[no-untyped-def]
    _, adam = trained
    confusion = client.get(f"/jobs/{adam}/confusion").json()
    matrix = confusion["matrix"]
    assert sum(map(sum, matrix)) == 1000 and len(matrix) == 10
    assert confusion["accuracy"] == client.get(f"/jobs/{adam}").json()["best"]["test_accuracy"]
    assert confusion["per_class_accuracy"][0] == matrix[0][0] / sum(matrix[0])
    _png(client.get(f"/jobs/{adam}/confusion.png"))


def test_compare_aligns_epochs_and_knows_the_start_was_the_same(client: TestClient, trained) -> None:  # type: ignore[no-untyped-def]
    sgd, adam = trained
    compared = client.get(f"/compare?jobs={sgd},{adam}").json()
    assert compared["epochs"] == [1, 2, 3] and compared["same_initial_weights"] is True
    assert [s["job_id"] for s in compared["jobs"]] == [sgd, adam]
    assert "sgd" in compared["jobs"][0]["label"] and "adam" in compared["jobs"][1]["label"]
    assert client.get(f"/jobs/{sgd}").json()["init_hash"] == client.get(f"/jobs/{adam}").json()["init_hash"]
    _png(client.get(f"/compare.png?jobs={sgd},{adam}"))
    _png(client.get(f"/jobs/{sgd}/plot.png"))


def test_analysis_errors(client: TestClient) -> None:
    queued = client.post("/jobs", json=SGD).json()["id"]
    assert client.get(f"/jobs/{queued}/misclassified").status_code == 409
    assert client.get("/jobs/999/confusion").status_code == 404
    assert client.get("/compare?jobs=1,x").status_code == 422
    assert client.get("/compare?jobs=").status_code == 422
    assert client.get("/compare?jobs=999").status_code == 404
    _png(client.get(f"/jobs/{queued}/plot.png"))  # a job with no epoch yet still draws its (empty) axes


def test_each_cell_of_the_confusion_matrix_lists_exactly_its_images(client: TestClient, trained) -> None:  # type: ignore[no-untyped-def]
    sgd, _ = trained
    matrix = client.get(f"/jobs/{sgd}/confusion").json()["matrix"]
    listed = 0
    for true in range(10):
        for predicted in range(10):
            if true == predicted:
                continue
            cell = client.get(f"/jobs/{sgd}/misclassified?true_label={true}&predicted_label={predicted}&limit=1000")
            assert cell.status_code == 200, cell.text
            body = cell.json()
            assert body["count"] == matrix[true][predicted] == len(body["examples"])
            assert all((m["true_label"], m["predicted_label"]) == (true, predicted) for m in body["examples"])
            listed += body["count"]
    assert listed == client.get(f"/jobs/{sgd}/misclassified?limit=0").json()["count"]  # every mistake, once
    one_class = client.get(f"/jobs/{sgd}/misclassified?true_label=3&limit=1000").json()
    assert one_class["count"] == sum(matrix[3]) - matrix[3][3]


def test_a_cell_can_come_with_its_images_in_one_answer(client: TestClient, trained, settings) -> None:  # type: ignore[no-untyped-def]
    import base64
    import io

    import numpy as np

    from mnistlab.datasets import load_split

    test = load_split(settings.datasets_dir, "mnist", train=False)
    answer = client.get(f"/jobs/{trained[0]}/misclassified?limit=30&images=true").json()
    assert len(answer["examples"]) == 30
    for example in answer["examples"]:
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(example["image_png"]))))
        assert np.array_equal(pixels, (test.images[example["index"], 0].numpy() * 255).round().astype(np.uint8))
    assert client.get(f"/jobs/{trained[0]}/misclassified?limit=3").json()["examples"][0]["image_png"] is None


@pytest.mark.parametrize(("query", "words"), [
    ("limit=1001&images=true", "with images=true, limit is at most 1,000"),
    ("true_label=10&predicted_label=2", "true_label"),
    ("true_label=2&predicted_label=-1", "predicted_label"),
    ("true_label=4&predicted_label=4", "true_label and predicted_label are both 4"),
])
def test_a_cell_outside_the_data_sets_classes_or_on_the_diagonal_is_a_422(client: TestClient, trained,  # type: ignore[no-untyped-def]
                                                                         query: str, words: str) -> None:
    response = client.get(f"/jobs/{trained[0]}/misclassified?{query}")
    assert response.status_code == 422 and words in response.text, response.text


def test_a_job_records_what_reproduces_it(client: TestClient, trained, settings) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import platform

    import torch

    from mnistlab import __version__
    from mnistlab.datasets import RAW_FILES, raw_dir

    data = hashlib.sha256()
    for name in RAW_FILES:
        data.update((raw_dir(settings.datasets_dir, "mnist") / name).read_bytes())
    environment = client.get(f"/jobs/{trained[0]}").json()["environment"]
    assert environment == {"mnistlab": __version__, "torch": torch.__version__,
                           "python": platform.python_version(), "dataset_sha256": data.hexdigest()}


def test_a_figure_is_drawn_once_and_again_when_its_job_gains_an_epoch(client: TestClient, sessions,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    drawn: list[int] = []
    curves = plots.curves

    def counted(*args, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
        drawn.append(1)
        return curves(*args, **kwargs)

    monkeypatch.setattr(plots, "curves", counted)
    job_id = client.post("/jobs", json=SGD).json()["id"]
    first, again = (client.get(f"/jobs/{job_id}/plot.png").content for _ in range(2))
    assert first == again and len(drawn) == 1  # the same figure: drawn once
    with sessions.begin() as session:  # an epoch lands, as a worker records it
        jobs.insert_metric_once(session, job_id=job_id, metric=dict(
            epoch=1, loss=0.5, train_accuracy=0.8, test_accuracy=0.85, seconds=1.0, images_per_second=6000.0))
    after = client.get(f"/jobs/{job_id}/plot.png").content
    assert after != first and len(drawn) == 2  # never the stale figure
    _png(client.get(f"/jobs/{job_id}/plot.png"))
