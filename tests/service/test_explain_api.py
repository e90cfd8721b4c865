"""POST /explain and GET /jobs/{id}/filters through the real app, with the shipped models, a trained job and
real test images."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab.datasets import load_split
from mnistlab.settings import Settings
from service.routes.explain import MAX_EXPLAINED
from tests.helpers.images import png
from tests.helpers.servers import module_app
from workers.worker import Worker

pytestmark = pytest.mark.datasets


def _files(images: np.ndarray) -> list:
    return [("file", (f"digit-{i}.png", png(image), "image/png")) for i, image in enumerate(images)]


def _picture(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[tuple[TestClient, Settings]]:
    """One app for the module: the tests explain with its models (loaded once) or train a job of their own."""
    with module_app(tmp_path_factory.mktemp("explain"), small_data_dir) as made:
        yield made


@pytest.fixture(scope="module")
def client(lab) -> TestClient:  # type: ignore[no-untyped-def]
    return lab[0]


@pytest.fixture(scope="module")
def settings(lab) -> Settings:  # type: ignore[no-untyped-def]
    return lab[1]


@pytest.fixture(scope="module")
def test_images(settings):  # type: ignore[no-untyped-def]
    return load_split(settings.datasets_dir, "mnist", train=False).images[:, 0].numpy()


def test_the_default_model_explains_each_image_with_both_methods_and_its_feature_maps(client: TestClient,  # type: ignore[no-untyped-def]
                                                                                      test_images) -> None:
    uploads = _files(test_images[:3])
    predicted = client.post("/predict?top_k=10", files=uploads).json()
    response = client.post("/explain", files=uploads)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == predicted["model"] and body["methods"] == ["integrated_gradients", "grad_cam"]
    [summary] = [m for m in client.get("/architectures").json() if m["model"] == body["model"]["model"]]
    architecture = {layer["index"]: layer for layer in summary["layers"]}
    for explanation, prediction in zip(body["explanations"], predicted["predictions"]):
        assert (explanation["label"], explanation["filename"]) == (prediction["label"], prediction["filename"])
        by_label = {p["label"]: p["probability"] for p in prediction["top_k"]}
        assert explanation["probabilities"] == pytest.approx([by_label[i] for i in range(10)], abs=1e-5)
        assert _picture(explanation["image_png"]).shape == (28, 28)
        for method in ("integrated_gradients", "grad_cam"):
            attribution = explanation["attributions"][method]
            assert np.asarray(attribution["values"]).shape == (28, 28)
            assert _picture(attribution["overlay_png"]).shape == (28, 28, 3)
        assert abs(explanation["attributions"]["integrated_gradients"]["convergence_delta"]) < 0.5
        convolutions = [i for i, layer in architecture.items() if layer["layer"].startswith("Conv2d")]
        assert [m["shape"] for m in explanation["feature_maps"]] == [architecture[i]["output_shape"]
                                                                     for i in convolutions]
    assert body["filters"] is None


def test_a_linear_job_is_explained_by_integrated_gradients_and_shows_its_class_templates(
        client: TestClient, settings, test_images) -> None:  # type: ignore[no-untyped-def]
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 1,
                                        "batch_size": 100, "seed": 0}).json()["id"]
    assert Worker(settings).run(burst=True) == 1
    body = client.post(f"/explain?job_id={job_id}&filters=true", files=_files(test_images[:1])).json()
    assert body["model"]["job_id"] == job_id and body["methods"] == ["integrated_gradients"]
    [explanation] = body["explanations"]
    assert list(explanation["attributions"]) == ["integrated_gradients"] and explanation["feature_maps"] == []
    assert body["filters"]["kind"] == "class_templates" and body["filters"]["shape"] == [10, 28, 28]
    assert client.get(f"/jobs/{job_id}/filters").json() == body["filters"]
    refused = client.post(f"/explain?job_id={job_id}&method=grad_cam", files=_files(test_images[:1]))
    assert refused.status_code == 422
    assert "grad_cam needs a convolution, and model 'linear' has none" in refused.text


def test_the_number_of_images_explained_at_once_is_bounded(client: TestClient, test_images) -> None:  # type: ignore[no-untyped-def]
    most = client.post("/explain?method=integrated_gradients&feature_maps=false",
                       files=_files(test_images[:MAX_EXPLAINED]))
    assert most.status_code == 200 and len(most.json()["explanations"]) == MAX_EXPLAINED
    too_many = client.post("/explain", files=_files(test_images[:64]))  # what /predict accepts
    assert too_many.status_code == 422
    assert f"explain takes at most {MAX_EXPLAINED} images a request (got 64)" in too_many.text


@pytest.mark.parametrize(("query", "status", "words"), [
    ("method=saliency", 422, "method"),
    ("job_id=424242", 404, "424242"),
    ("dataset=emnist", 422, "dataset"),
])
def test_bad_explain_requests_are_named(client: TestClient, test_images, query: str, status: int,  # type: ignore[no-untyped-def]
                                        words: str) -> None:
    response = client.post(f"/explain?{query}", files=_files(test_images[:1]))
    assert response.status_code == status and words in response.text, response.text
