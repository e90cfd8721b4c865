"""ONNX export: what onnxruntime makes of the shipped models and of freshly trained jobs (issue 15)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from fastapi.testclient import TestClient

from mnistlab.datasets import load_split
from mnistlab.settings import Settings
from mnistlab.spec import DATASET_CLASSES
from models_store import checkpoints
from models_store.architectures import build_model, initial_model
from models_store.shipped import load_shipped, shipped_onnx_path
from service import exports
from service.app import create_app
from service.registry import make_loaded
from tests.helpers.servers import make_settings
from workers.worker import Worker

KEY = "export-tests-key"


def _session(model_bytes: bytes) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def _torch_probabilities(network, images: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    network.eval()
    with torch.inference_mode():
        return np.concatenate([torch.softmax(network(torch.from_numpy(images[i:i + 1000])), dim=1).numpy()
                               for i in range(0, len(images), 1000)])


def _assert_same_as_torch(model_bytes: bytes, network, images: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """onnxruntime at batch 1,000 and at batch 1, against PyTorch, on every image given."""
    session = _session(model_bytes)
    expected = _torch_probabilities(network, images)
    logits, probabilities = (np.concatenate(parts) for parts in zip(
        *(session.run(["logits", "probabilities"], {"images": images[i:i + 1000]}) for i in range(0, len(images), 1000)),
        strict=True))
    assert probabilities.shape == (len(images), 10) and logits.shape == (len(images), 10)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
    assert (probabilities.argmax(1) == expected.argmax(1)).all()
    assert (logits.argmax(1) == probabilities.argmax(1)).all()
    one_by_one = np.concatenate([session.run(["probabilities"], {"images": images[i:i + 1]})[0]
                                 for i in range(0, len(images), 10)])  # batch 1, every tenth image
    np.testing.assert_allclose(one_by_one, expected[::10], atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_the_shipped_models_exported_give_pytorchs_answers_on_the_whole_test_set(
        client: TestClient, settings: Settings, data_dir: Path, dataset: str) -> None:
    response = client.get(f"/models/{dataset}/export")
    assert response.status_code == 200
    # The export shipped beside the weights, as it is: nothing is exported at start or on request.
    assert response.content == shipped_onnx_path(dataset).read_bytes()
    assert not list(settings.checkpoint_dir.rglob("*.onnx"))
    assert response.headers["content-disposition"].endswith(f'filename="mnistlab-{dataset}-shipped-epoch-'
                                                             f'{client.get("/models").json()["defaults"][dataset]["epoch"]}.onnx"')
    model = onnx.load_from_string(response.content)
    onnx.checker.check_model(model)
    (images_input,) = model.graph.input
    assert images_input.name == "images"
    assert images_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = images_input.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]  # N is symbolic
    assert [output.name for output in model.graph.output] == ["logits", "probabilities"]
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata["dataset"] == dataset and json.loads(metadata["class_names"]) == list(DATASET_CLASSES[dataset])
    assert metadata["architecture"] == load_shipped(dataset).model and metadata["job_id"] == "shipped"
    assert "[0,1]" in metadata["preprocessing"] and "docs/export.md" in metadata["preprocessing"]

    shipped = load_shipped(dataset)
    assert metadata["epoch"] == str(shipped.epoch) and float(metadata["test_accuracy"]) == pytest.approx(
        shipped.test_accuracy, abs=1e-6)
    network = build_model(shipped.model)
    network.load_state_dict(shipped.weights)
    test = load_split(data_dir, dataset, train=False)
    images = test.images.numpy()
    _assert_same_as_torch(response.content, network, images)
    accuracy = (_session(response.content).run(["probabilities"], {"images": images})[0].argmax(1)
                == test.labels.numpy()).mean()
    assert accuracy == pytest.approx(shipped.test_accuracy, abs=1e-4)  # the accuracy it claims, in onnxruntime


@pytest.mark.datasets
@pytest.mark.parametrize(("model", "extra"), [
    ("linear", {}), ("ffnn", {"hidden": 32}), ("cnn", {}),
    pytest.param("convnet", {"augmentation": "digits", "batch_size": 512}, marks=pytest.mark.slow)])
def test_a_freshly_trained_job_exports_best_and_last(client: TestClient, settings: Settings, model: str,
                                                     extra: dict) -> None:
    # Against PyTorch on the job's own test set (the small copy's 1,000 real images; the shipped models are
    # checked on the whole test set above).
    test_images = load_split(settings.datasets_dir, "mnist", train=False).images.numpy()
    job = client.post("/jobs", json={"dataset": "mnist", "model": model, "optimizer": "adam", "epochs": 2,
                                     "batch_size": 200, "seed": 3, **extra}).json()
    assert Worker(settings).run(burst=True) == 1
    job = client.get(f"/jobs/{job['id']}").json()
    for which in ("best", "last"):
        response = client.get(f"/jobs/{job['id']}/export", params={"format": "onnx", "which": which})
        assert response.status_code == 200
        epoch = job["best"]["epoch"] if which == "best" else 2
        assert response.headers["content-disposition"] == (
            f'attachment; filename="mnistlab-job-{job["id"]}-{which}-epoch-{epoch}.onnx"')
        metadata = {p.key: p.value for p in onnx.load_from_string(response.content).metadata_props}
        assert (metadata["job_id"], metadata["epoch"], metadata["architecture"]) == (str(job["id"]), str(epoch), model)
        payload = checkpoints.load(checkpoints.checkpoint_path(settings.checkpoint_dir, job["id"], which))
        network = build_model(model, hidden=extra.get("hidden"))
        network.load_state_dict(payload["model"])
        _assert_same_as_torch(response.content, network, test_images)
    folder = checkpoints.job_dir(settings.checkpoint_dir, job["id"])
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]  # no temp file left


@pytest.mark.datasets
def test_a_second_download_does_no_work_and_a_promoted_default_exports_its_job(
        client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 1,
                                        "seed": 0}).json()["id"]
    Worker(settings).run(burst=True)
    first = client.get(f"/jobs/{job_id}/export")
    exported = next(checkpoints.job_dir(settings.checkpoint_dir, job_id).glob("export-best-epoch-1.onnx"))
    made_at = exported.stat().st_mtime_ns

    def must_not_export(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("exported again")

    monkeypatch.setattr(exports, "to_onnx", must_not_export)
    second = client.get(f"/jobs/{job_id}/export")
    assert second.status_code == 200 and second.content == first.content
    assert exported.stat().st_mtime_ns == made_at
    assert client.put("/models/mnist/default", json={"job_id": job_id}).status_code == 200
    promoted = client.get("/models/mnist/export")  # the same file: the job's best, already made
    assert promoted.status_code == 200 and promoted.content == first.content
    assert promoted.headers["content-disposition"].endswith(f'filename="mnistlab-job-{job_id}-best-epoch-1.onnx"')


def test_two_exporters_sharing_a_checkpoint_folder_make_an_export_once(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """As `serve`'s API processes warming the same default model at start: each has its own exporter, one folder."""
    traced: list[str] = []
    real_to_onnx = exports.to_onnx

    def slow_to_onnx(*args: object, **kwargs: object) -> bytes:
        traced.append(str(kwargs["architecture"]))
        time.sleep(0.5)  # an export takes seconds: the other exporter asks while this one is under way
        return real_to_onnx(*args, **kwargs)

    monkeypatch.setattr(exports, "to_onnx", slow_to_onnx)
    loaded = make_loaded(job_id=1, dataset="mnist", model="linear", hidden=None, epoch=1, test_accuracy=None,
                         weights=initial_model("linear", hidden=None, seed=0).state_dict())
    path = exports.ModelExporter(tmp_path).job_export_path(1, "best", 1, "onnx")
    both_ready = threading.Barrier(2)

    def export() -> Path:
        exporter = exports.ModelExporter(tmp_path)  # its own, as in another process
        both_ready.wait()
        return exporter.export(loaded, path, "onnx")

    with ThreadPoolExecutor(2) as pool:
        made = [future.result() for future in [pool.submit(export) for _ in range(2)]]
    assert made == [path, path] and traced == ["linear"]
    assert onnx.load(path).graph.output[1].name == "probabilities"


def test_export_errors_name_the_problem(client: TestClient) -> None:
    job_id = client.post("/jobs", json={"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 1}).json()["id"]
    no_checkpoint = client.get(f"/jobs/{job_id}/export")
    assert no_checkpoint.status_code == 409
    assert no_checkpoint.json()["detail"] == f"job {job_id} has no checkpoint yet (queued): nothing to export"
    unknown_format = client.get(f"/jobs/{job_id}/export?format=tflite")
    assert unknown_format.status_code == 422 and unknown_format.json()["detail"][0]["loc"] == ["query", "format"]
    assert client.get("/models/mnist/export?format=torchscript").status_code == 422
    assert client.get(f"/jobs/{job_id}/export?which=first").status_code == 422
    unknown_job = client.get("/jobs/424242/export")
    assert unknown_job.status_code == 404 and unknown_job.json()["detail"] == "job 424242 not found"
    assert client.get("/models/cifar10/export").status_code == 422


@pytest.mark.parametrize("public_predict", [False, True])
def test_exports_need_the_api_key_as_checkpoints_do(tmp_path: Path, public_predict: bool) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "no-data", api_key=KEY, public_predict=public_predict)
    with TestClient(create_app(settings)) as client:
        for path in ("/jobs/1/export", "/jobs/1/checkpoint", "/models/mnist/export"):
            assert client.get(path).status_code == 401, path
        good = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/jobs/1/export", headers=good).status_code == 404
        assert client.get("/models/mnist/export", headers=good).status_code == 200
