"""The Open Inference Protocol routes, in process: the same answers as /predict, and errors as {"error": ...}."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mnistlab.datasets import load_split
from models_store.shipped import load_shipped
from service.app import create_app
from tests.helpers.images import png
from tests.helpers.jobs import QUICK_JOB
from workers.worker import Worker


@pytest.fixture(scope="module")
def digits(data_dir: Path):  # type: ignore[no-untyped-def]
    test = load_split(data_dir, "mnist", train=False)
    return test.images[:16, 0].numpy(), test.labels[:16].numpy()


def _predict(client: TestClient, images: np.ndarray) -> list[dict]:
    files = [("file", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(images)]
    return client.post("/predict", files=files, params={"top_k": 10}).json()["predictions"]


def test_server_and_model_metadata(client: TestClient) -> None:
    assert client.get("/v2").json() == {"name": "mnistlab", "version": "0.1.0", "extensions": ["binary_tensor_data"]}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2/models/mnist").json()
    epoch = str(load_shipped("mnist").epoch)
    assert meta["name"] == "mnist" and meta["versions"] == [epoch]  # the shipped model's best epoch
    assert meta["platform"] == "onnxruntime_onnx"  # the default runtime (MNISTLAB_RUNTIME=auto)
    assert {i["name"]: (i["datatype"], i["shape"]) for i in meta["inputs"]} == {
        "images": ("FP32", [-1, 1, 28, 28]), "image_bytes": ("BYTES", [-1])}
    assert {o["name"]: (o["datatype"], o["shape"]) for o in meta["outputs"]} == {
        "probabilities": ("FP32", [-1, 10]), "label": ("INT64", [-1]), "class_name": ("BYTES", [-1])}
    assert client.get("/v2/models/fashion-mnist").json()["parameters"]["class_names"][9] == "Ankle boot"
    assert client.get(f"/v2/models/mnist/versions/{epoch}").status_code == 200
    assert client.get("/v2/models/mnist/ready").json() == {"name": "mnist", "ready": True}


@pytest.mark.parametrize(("path", "message"), [
    ("/v2/models/cifar10", "unknown model 'cifar10'"), ("/v2/models/job-77", "job 77 not found"),
    ("/v2/models/mnist/versions/3", "has no version '3'"), ("/v2/models/mnist/versions/3/ready", "has no version"),
])
def test_unknown_models_and_versions_are_404_with_an_error(client: TestClient, path: str, message: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and message in response.json()["error"]


def test_json_images_give_what_predict_gives(client: TestClient, digits) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    request = {"id": "r1", "inputs": [{"name": "images", "datatype": "FP32", "shape": [16, 1, 28, 28],
                                        "data": images.reshape(-1).tolist()}]}
    answer = client.post("/v2/models/mnist/infer", json=request).json()
    assert answer["id"] == "r1" and answer["model_name"] == "mnist" and answer["model_version"] == "12"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["label"]["shape"] == [16] and outputs["probabilities"]["shape"] == [16, 10]
    probabilities = np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(16, 10)
    expected = _predict(client, images)  # /predict on the same images as PNGs: one pipeline, one answer
    assert outputs["label"]["data"] == [p["label"] for p in expected] == labels.tolist()
    assert outputs["class_name"]["data"] == [p["class_name"] for p in expected]
    for row, prediction in zip(probabilities, expected, strict=True):
        by_label = {k["label"]: k["probability"] for k in prediction["top_k"]}
        assert np.allclose(row, [by_label[i] for i in range(10)], atol=1e-6)


def test_uint8_images_and_a_chosen_output(client: TestClient, digits) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    raw = np.round(images * 255).astype(np.uint8)
    request = {"inputs": [{"name": "images", "datatype": "UINT8", "shape": [16, 28, 28], "data": raw.reshape(-1).tolist()}],
               "outputs": [{"name": "label"}]}
    answer = client.post("/v2/models/mnist/infer", json=request).json()
    assert [o["name"] for o in answer["outputs"]] == ["label"] and answer["outputs"][0]["data"] == labels.tolist()


def test_binary_tensors_in_and_out(client: TestClient, digits) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    blob = images.astype(np.float32).tobytes()
    head = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [16, 28, 28],
                                   "parameters": {"binary_data_size": len(blob)}}],
                       "outputs": [{"name": "label", "parameters": {"binary_data": True}},
                                   {"name": "class_name", "parameters": {"binary_data": True}}]}).encode()
    response = client.post("/v2/models/mnist/infer", content=head + blob,
                           headers={"Inference-Header-Content-Length": str(len(head)),
                                    "Content-Type": "application/octet-stream"})
    assert response.status_code == 200
    length = int(response.headers["inference-header-content-length"])
    document = json.loads(response.content[:length])
    label_size = document["outputs"][0]["parameters"]["binary_data_size"]
    data = response.content[length:]
    assert np.frombuffer(data[:label_size], dtype=np.int64).tolist() == labels.tolist()
    names, offset = [], label_size
    while offset < len(data):
        (size,) = struct.unpack_from("<I", data, offset)
        names.append(data[offset + 4:offset + 4 + size].decode())
        offset += 4 + size
    assert names == [str(label) for label in labels]


def test_image_files_as_bytes_are_preprocessed_like_uploads(client: TestClient, digits) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    pngs = [png(image) for image in images[:4]]
    blob = b"".join(struct.pack("<I", len(p)) + p for p in pngs)
    head = json.dumps({"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [4],
                                   "parameters": {"binary_data_size": len(blob)}}]}).encode()
    answer = client.post("/v2/models/mnist/infer", content=head + blob,
                         headers={"Inference-Header-Content-Length": str(len(head))}).json()
    assert {o["name"]: o["data"] for o in answer["outputs"]}["label"] == labels[:4].tolist()


@pytest.mark.parametrize(("request_body", "message"), [
    ({"inputs": []}, "non-empty 'inputs'"),
    ({"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}]}, "unknown input 'pixels'"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [2, 28, 28], "data": [0.0] * 784}]}, "holds 1568 elements, the data 784"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 32, 32], "data": [0.0] * 1024}]}, "must be [N,28,28] or [N,1,28,28]"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [2.0] * 784}]}, "values in [0, 1]"),
    ({"inputs": [{"name": "images", "datatype": "FP64X", "shape": [1, 28, 28], "data": [0.0] * 784}]}, "unknown datatype"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}],
      "outputs": [{"name": "logits"}]}, "unknown output 'logits'"),
    ({"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [1], "data": ["not an image"]}]}, "not an image"),
    ({"inputs": [{"name": "images", "datatype": "INT32", "shape": [1, 28, 28], "data": [0] * 784}]},
     "must be FP32 (in [0, 1]) or UINT8, not INT32"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [float("nan")] + [0.0] * 783}]},
     "NaN or infinite values"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [float("inf")] + [0.0] * 783}]},
     "NaN or infinite values"),
    ({"inputs": [{"name": "image_bytes", "datatype": "BYTES", "shape": [65], "data": ["x"] * 65}]},
     "holds 65 files; at most 64"),
    # 'parameters' that are not objects (each was a 500), and outputs that are not objects (were skipped)
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784,
                  "parameters": [1]}]}, "input 'images': 'parameters' must be an object"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}],
      "parameters": "binary"}, "the request: 'parameters' must be an object"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}],
      "outputs": [{"name": "label", "parameters": [True]}]}, "output 'label': 'parameters' must be an object"),
    ({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}],
      "outputs": ["label"]}, "'outputs' must be a list of objects"),
])
def test_bad_requests_are_400_with_an_error_naming_the_problem(client: TestClient, request_body: dict, message: str) -> None:
    # json.dumps, not httpx's json=: it writes NaN and Infinity as Python's json module (and Triton's clients) do.
    response = client.post("/v2/models/mnist/infer", content=json.dumps(request_body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_binary_sizes_are_checked_against_the_body_before_use(client: TestClient) -> None:
    head = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1000, 28, 28],
                                   "parameters": {"binary_data_size": 1000 * 784 * 4}}]}).encode()
    response = client.post("/v2/models/mnist/infer", content=head + b"\0" * 64,
                           headers={"Inference-Header-Content-Length": str(len(head))})
    assert response.status_code == 400 and "runs past the body" in response.json()["error"]
    response = client.post("/v2/models/mnist/infer", content=b"{}", headers={"Inference-Header-Content-Length": "99"})
    assert response.status_code == 400 and "does not fit" in response.json()["error"]
    response = client.post("/v2/models/mnist/infer", content=b"{}", headers={"Inference-Header-Content-Length": "ten"})
    assert response.status_code == 400 and "'ten' does not fit" in response.json()["error"]


def _binary_images(count: int, extra: bytes = b"") -> tuple[bytes, dict[str, str]]:
    blob = np.zeros((count, 28, 28), dtype=np.float32).tobytes()
    head = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [count, 28, 28],
                                   "parameters": {"binary_data_size": len(blob)}}]}).encode()
    return head + blob + extra, {"Inference-Header-Content-Length": str(len(head))}


def test_binary_data_that_does_not_add_up_and_too_many_images_are_400(client: TestClient) -> None:
    body, headers = _binary_images(1, extra=b"\0" * 12)
    response = client.post("/v2/models/mnist/infer", content=body, headers=headers)
    assert response.status_code == 400 and "12 bytes of binary data belong to no input" in response.json()["error"]
    body, headers = _binary_images(1025)
    response = client.post("/v2/models/mnist/infer", content=body, headers=headers)
    assert response.status_code == 400 and "holds 1,025 images; at most 1,024" in response.json()["error"]
    body, headers = _binary_images(1024)  # the limit itself is served
    assert client.post("/v2/models/mnist/infer", content=body, headers=headers).status_code == 200


def _binary_body(inputs: list[tuple[str, str, list[int], bytes]]) -> tuple[bytes, dict[str, str]]:
    """(name, datatype, shape, its bytes) for each input: Triton's binary tensor extension."""
    head = json.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": shape,
                                   "parameters": {"binary_data_size": len(blob)}}
                                  for name, datatype, shape, blob in inputs]}).encode()
    return head + b"".join(blob for *_, blob in inputs), {"Inference-Header-Content-Length": str(len(head))}


_PNG = png(np.zeros((28, 28), dtype=np.float32))
_NAN_IMAGE = np.zeros((1, 28, 28), dtype=np.float32)
_NAN_IMAGE[0, 3, 4] = np.nan


@pytest.mark.parametrize(("inputs", "message"), [
    ([("images", "FP32", [2, 28, 28], np.zeros((1, 28, 28), np.float32).tobytes())],
     "FP32 [2, 28, 28] needs 6272 bytes, got 3136"),  # binary_data_size disagrees with the shape
    ([("images", "UINT8", [1, 28, 28], bytes(784 * 4))], "UINT8 [1, 28, 28] needs 784 bytes, got 3136"),
    ([("image_bytes", "BYTES", [1], struct.pack("<I", len(_PNG) + 10) + _PNG)],
     f"BYTES element of {len(_PNG) + 10} bytes runs past the tensor's data"),
    ([("image_bytes", "BYTES", [1], struct.pack("<I", len(_PNG)) + _PNG + b"\1\0")], "truncated BYTES element length"),
    ([("image_bytes", "BYTES", [2], struct.pack("<I", len(_PNG)) + _PNG)], "shape [2] holds 2 elements, the data 1"),
    ([("images", "FP32", [1, 28, 28], _NAN_IMAGE.tobytes())], "NaN or infinite values"),
    ([("images", "FP32", [1, 28, 28], np.full((1, 28, 28), np.inf, np.float32).tobytes())], "NaN or infinite values"),
])
def test_binary_tensors_that_contradict_themselves_are_400_naming_the_problem(
        client: TestClient, inputs: list, message: str) -> None:
    body, headers = _binary_body(inputs)
    response = client.post("/v2/models/mnist/infer", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_a_body_over_the_infer_limit_is_413_and_names_the_setting(settings) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(settings.model_copy(update={"max_infer_bytes": 100_000}))) as small:
        body, headers = _binary_images(40)  # 125 KB
        response = small.post("/v2/models/mnist/infer", content=body, headers=headers)
        assert response.status_code == 413 and "MNISTLAB_MAX_INFER_BYTES" in response.json()["error"]
        body, headers = _binary_images(20)  # 63 KB: under it
        assert small.post("/v2/models/mnist/infer", content=body, headers=headers).status_code == 200


@pytest.mark.datasets
def test_a_jobs_model_by_name_and_version(client: TestClient, settings, digits) -> None:  # type: ignore[no-untyped-def]
    images, _ = digits
    job_id = client.post("/jobs", json=QUICK_JOB).json()["id"]
    response = client.get(f"/v2/models/job-{job_id}/ready")
    assert response.status_code == 409 and "no checkpoint yet" in response.json()["error"]
    assert Worker(settings).run(burst=True) == 1
    best = client.get(f"/jobs/{job_id}").json()["best"]["epoch"]
    meta = client.get(f"/v2/models/job-{job_id}").json()
    assert meta["versions"] == [str(best)] and meta["parameters"]["job_id"] == job_id
    request = {"inputs": [{"name": "images", "datatype": "FP32", "shape": [16, 28, 28], "data": images.reshape(-1).tolist()}],
               "outputs": [{"name": "label"}]}
    answer = client.post(f"/v2/models/job-{job_id}/versions/{best}/infer", json=request).json()
    files = [("file", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(images)]
    expected = client.post("/predict", files=files, params={"job_id": job_id}).json()["predictions"]
    assert answer["model_version"] == str(best) and answer["outputs"][0]["data"] == [p["label"] for p in expected]
    assert client.post(f"/v2/models/job-{job_id}/versions/{best + 5}/infer", json=request).status_code == 404


def test_a_job_id_past_64_bits_is_an_unknown_model_not_a_500(client: TestClient) -> None:
    response = client.get(f"/v2/models/job-{2**63}")
    assert response.status_code == 404 and "unknown model" in response.json()["error"]
