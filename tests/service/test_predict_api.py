"""/predict and the model registry, through the real app, with the shipped models and real test images."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab.datasets import load_split
from models_store.shipped import load_shipped
from tests.helpers.images import (
    as_paper_photo,
    as_transparent_drawing,
    blank_png,
    decode,
    encode,
    png,
)
from service.schemas import PredictResponse
from workers.worker import Worker


@pytest.fixture(scope="module")
def mnist_test(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_split(data_dir, "mnist", train=False)


@pytest.fixture(scope="module")
def fashion_test(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_split(data_dir, "fashion-mnist", train=False)


def _files(*payloads: tuple[str, bytes]) -> list:
    return [("file", (name, data, "application/octet-stream")) for name, data in payloads]


def test_a_digit_png_is_classified_by_the_shipped_model(client: TestClient, mnist_test) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/predict", files=_files(("seven.png", png(mnist_test.images[0, 0].numpy()))))
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"job_id": None, "dataset": "mnist", "model": load_shipped("mnist").model,
                             "epoch": load_shipped("mnist").epoch, "test_accuracy": load_shipped("mnist").test_accuracy}
    [prediction] = body["predictions"]
    assert int(mnist_test.labels[0]) == 7
    assert prediction["filename"] == "seven.png" and prediction["label"] == 7 and prediction["class_name"] == "7"
    assert len(prediction["top_k"]) == 3 and prediction["top_k"][0]["probability"] == prediction["confidence"]
    assert prediction["confidence"] > 0.9 and "image_png" not in prediction


def test_a_batch_keeps_order_and_names_and_top_k_is_clamped(client: TestClient, mnist_test) -> None:  # type: ignore[no-untyped-def]
    uploads = [(f"digit-{i}.png", png(mnist_test.images[i, 0].numpy())) for i in range(10)]
    body = client.post("/predict?top_k=50", files=_files(*uploads)).json()
    assert [p["filename"] for p in body["predictions"]] == [name for name, _ in uploads]
    assert [p["label"] for p in body["predictions"]] == mnist_test.labels[:10].tolist()
    assert all(len(p["top_k"]) == 10 for p in body["predictions"])
    one = client.post("/predict?top_k=0", files=_files(uploads[0])).json()
    assert len(one["predictions"][0]["top_k"]) == 1


def test_a_raw_jpeg_body_of_dark_ink_on_paper_works_and_debug_shows_what_the_model_saw(client: TestClient, mnist_test) -> None:  # type: ignore[no-untyped-def]
    photo = encode(as_paper_photo(mnist_test.images[1, 0].numpy()), "JPEG", quality=90)
    response = client.post("/predict?debug=true", content=photo, headers={"Content-Type": "image/jpeg"})
    [prediction] = response.json()["predictions"]
    assert prediction["label"] == int(mnist_test.labels[1])
    seen = decode(base64.b64decode(prediction["image_png"]))
    assert seen.size == (28, 28) and seen.mode == "L"


def test_every_answer_is_exactly_the_documented_predict_response(client: TestClient, mnist_test) -> None:  # type: ignore[no-untyped-def]
    """/predict builds its JSON by hand for speed; the schema it declares (no other keys) is checked here."""
    digits = _files(*[(f"d{i}.png", png(mnist_test.images[i, 0].numpy())) for i in range(3)])
    for query in ["", "?debug=true&top_k=10", "?dataset=fashion-mnist&top_k=1"]:
        body = client.post(f"/predict{query}", files=digits).json()
        assert PredictResponse.model_validate(body).model_dump(exclude_unset=True) == body


def test_a_sneaker_photo_is_a_sneaker(client: TestClient, fashion_test) -> None:  # type: ignore[no-untyped-def]
    sneakers = (fashion_test.labels == 7).nonzero().flatten()[:5].tolist()
    uploads = [(f"sneaker-{i}.jpg", encode(as_paper_photo(fashion_test.images[i, 0].numpy(), paper=245), "JPEG"))
               for i in sneakers]
    body = client.post("/predict?dataset=fashion-mnist", files=_files(*uploads)).json()
    assert body["model"]["dataset"] == "fashion-mnist"
    assert [p["class_name"] for p in body["predictions"]].count("Sneaker") >= 4


@pytest.mark.parametrize(("make", "fmt"), [(as_paper_photo, "JPEG"), (as_transparent_drawing, "PNG")])
def test_accuracy_on_uploads_stays_within_two_points_of_test_accuracy(client: TestClient, mnist_test, make, fmt) -> None:  # type: ignore[no-untyped-def]
    count, correct = 320, 0
    for start in range(0, count, 64):
        batch = [(f"{i}.img", encode(make(mnist_test.images[i, 0].numpy()), fmt)) for i in range(start, start + 64)]
        body = client.post("/predict", files=_files(*batch)).json()
        correct += sum(p["label"] == int(mnist_test.labels[start + k]) for k, p in enumerate(body["predictions"]))
    assert correct / count >= load_shipped("mnist").test_accuracy - 0.02


BAD_INPUT = [
    ("empty body", dict(content=b"", headers={"Content-Type": "image/png"}), 422, "empty body"),
    ("no file field", dict(files={"picture": ("a.png", b"123")}), 422, "field named 'file'"),
    ("random bytes", dict(content=bytes(range(256)) * 8, headers={"Content-Type": "image/png"}), 400, "not an image"),
    ("truncated png", dict(content=encode(Image.new("L", (300, 300), 90))[:200], headers={"Content-Type": "image/png"}), 400, "truncated"),
    ("tiff", dict(content=encode(Image.new("L", (8, 8)), "TIFF"), headers={"Content-Type": "image/tiff"}), 415, "TIFF"),
    ("json", dict(json={"image": "x"}), 415, "not an image"),
    ("too large", dict(content=b"\x89PNG" + b"\0" * 5_000_001, headers={"Content-Type": "image/png"}), 413, "limit"),
    ("chunked and too large", dict(content=(b"\0" * 1_000_000 for _ in range(6)), headers={"Content-Type": "image/png"}), 413, "limit"),
    ("pixel bomb", dict(content=encode(Image.new("1", (20_000, 20_000))), headers={"Content-Type": "image/png"}), 413, "MNISTLAB_MAX_PIXELS"),
    ("65 files", dict(files=[("file", (f"{i}.png", b"x"))for i in range(65)]), 413, "more than 64 files"),
]


@pytest.mark.parametrize(("case", "request_args", "status", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_gets_a_clear_4xx_and_the_service_keeps_serving(client: TestClient, mnist_test, case: str,  # type: ignore[no-untyped-def]
                                                                  request_args: dict, status: int, message: str) -> None:
    response = client.post("/predict", **request_args)
    assert response.status_code == status, response.text
    assert message in response.text
    assert client.post("/predict", files=_files(("ok.png", png(mnist_test.images[0, 0].numpy())))).status_code == 200


@pytest.mark.parametrize(("query", "field"), [("job_id=0", "job_id"), ("dataset=cifar10", "dataset"),
                                              ("top_k=many", "top_k")])
def test_a_bad_query_is_a_422_naming_the_parameter(client: TestClient, query: str, field: str) -> None:
    response = client.post(f"/predict?{query}", content=blank_png(), headers={"Content-Type": "image/png"})
    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", field]]


@pytest.mark.datasets
def test_predicting_with_a_job_and_choosing_it_as_default(client: TestClient, settings, mnist_test) -> None:  # type: ignore[no-untyped-def]
    digit = _files(("d.png", png(mnist_test.images[0, 0].numpy())))
    assert client.post("/predict?job_id=99", files=digit).status_code == 404
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "ffnn", "hidden": 32, "optimizer": "adam",
                                        "epochs": 2, "batch_size": 100, "seed": 1}).json()["id"]
    response = client.post(f"/predict?job_id={job_id}", files=digit)
    assert response.status_code == 409 and "no checkpoint yet" in response.text
    assert client.put("/models/mnist/default", json={"job_id": job_id}).status_code == 409
    Worker(settings).run(burst=True)
    job = client.get(f"/jobs/{job_id}").json()
    model = client.post(f"/predict?job_id={job_id}", files=digit).json()["model"]
    assert model == {"job_id": job_id, "dataset": "mnist", "model": "ffnn", "epoch": job["best"]["epoch"],
                     "test_accuracy": job["best"]["test_accuracy"]}

    registry = client.get("/models").json()
    assert registry["defaults"]["mnist"]["job_id"] is None and registry["defaults"]["fashion-mnist"]["job_id"] is None
    assert [m["job_id"] for m in registry["jobs"]] == [job_id]

    wrong = client.put("/models/fashion-mnist/default", json={"job_id": job_id})
    assert wrong.status_code == 422 and "trained on 'mnist'" in wrong.text
    assert client.put("/models/mnist/default", json={"job_id": job_id}).json()["job_id"] == job_id
    assert client.post("/predict", files=digit).json()["model"]["job_id"] == job_id
    assert client.get("/models").json()["defaults"]["mnist"]["job_id"] == job_id
    assert client.delete("/models/mnist/default").json()["job_id"] is None
    assert client.post("/predict", files=digit).json()["model"]["job_id"] is None
