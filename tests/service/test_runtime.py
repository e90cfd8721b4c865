"""The serving runtime: onnxruntime answers as PyTorch does, the setting chooses, a model it cannot load falls back."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from mnistlab.datasets import load_split
from mnistlab.settings import Settings
from models_store.architectures import initial_model
from models_store import checkpoints
from service.app import create_app
from service.exports import ModelExporter
from service.registry import make_loaded
from service.runtime import ONNXRUNTIME_PLATFORM, PYTORCH_PLATFORM, OnnxRunner, RuntimeChooser, TorchRunner
from tests.helpers.images import png
from tests.helpers.jobs import QUICK_JOB
from workers.worker import Worker


def _trained_looking(model: str) -> dict[str, torch.Tensor]:
    """Seeded weights, with batch norm's running statistics moved off their initial 0 and 1 (as training would)."""
    network = initial_model(model, hidden=None, seed=11)
    generator = torch.Generator().manual_seed(5)
    for name, tensor in network.state_dict().items():
        if name.endswith("running_mean"):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
        elif name.endswith("running_var"):
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    return network.state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["linear", "ffnn", "cnn", "convnet"])
def test_onnxruntime_gives_pytorchs_answers_on_the_whole_test_set(data_dir: Path, tmp_path: Path, model: str) -> None:
    loaded = make_loaded(job_id=1, dataset="mnist", model=model, hidden=None, epoch=1, test_accuracy=None,
                         weights=_trained_looking(model))
    path = ModelExporter(tmp_path).export(loaded, tmp_path / f"{model}.onnx", "onnx")
    runner = RuntimeChooser("onnxruntime").runner(loaded.module, lambda: path, model)
    assert isinstance(runner, OnnxRunner) and runner.platform == ONNXRUNTIME_PLATFORM
    images = load_split(data_dir, "mnist", train=False).images.numpy()
    expected = np.concatenate([TorchRunner(loaded.module).probabilities(images[i:i + 1000])
                               for i in range(0, len(images), 1000)])
    for batch in (1000, 1):  # the API's two regimes: batched requests and a lone image
        picked = images if batch == 1000 else images[::20]
        answer = np.concatenate([runner.probabilities(picked[i:i + batch]) for i in range(0, len(picked), batch)])
        reference = expected if batch == 1000 else expected[::20]
        assert (answer.argmax(1) == reference.argmax(1)).all()
        np.testing.assert_allclose(answer, reference, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def seven(data_dir: Path) -> bytes:
    return png(load_split(data_dir, "mnist", train=False).images[0, 0].numpy())  # the test set's first image, a 7


def _platform(client: TestClient, name: str = "mnist") -> str:
    return client.get(f"/v2/models/{name}").json()["platform"]


def test_the_default_runtime_is_onnxruntime_and_the_protocol_says_so(client: TestClient, seven: bytes) -> None:
    assert client.post("/predict", content=seven, headers={"Content-Type": "image/png"}).status_code == 200
    assert _platform(client, "mnist") == ONNXRUNTIME_PLATFORM
    assert _platform(client, "fashion-mnist") == ONNXRUNTIME_PLATFORM


def test_the_setting_chooses_pytorch(settings: Settings, seven: bytes) -> None:
    with TestClient(create_app(settings.model_copy(update={"runtime": "torch"}))) as client:
        assert _platform(client) == PYTORCH_PLATFORM
        answer = client.post("/predict", content=seven, headers={"Content-Type": "image/png"})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == 7
    assert not list(settings.checkpoint_dir.rglob("*.onnx"))  # nothing exported for nobody


@pytest.mark.datasets
def test_a_model_onnxruntime_cannot_load_is_served_by_pytorch_with_one_warning(
        settings: Settings, seven: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(create_app(settings)) as client:
        job_id = client.post("/jobs", json=QUICK_JOB).json()["id"]
        assert Worker(settings).run(burst=True) == 1
        assert client.put("/models/mnist/default", json={"job_id": job_id}).status_code == 200
        first = client.post("/predict", content=seven, headers={"Content-Type": "image/png"}).json()
        assert _platform(client) == ONNXRUNTIME_PLATFORM  # served from its export, made on the way
    # A damaged export in the cache (a full disk, a bad copy): onnxruntime refuses it.
    (broken,) = checkpoints.job_dir(settings.checkpoint_dir, job_id).glob("export-best-epoch-*.onnx")
    broken.write_bytes(b"not an onnx file")
    with caplog.at_level(logging.WARNING, logger="service.runtime"), \
            TestClient(create_app(settings)) as client:
        answers = [client.post("/predict", content=seven, headers={"Content-Type": "image/png"})
                   for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert {answer.json()["predictions"][0]["label"] for answer in answers} == {first["predictions"][0]["label"]}
        assert _platform(client) == PYTORCH_PLATFORM
        assert _platform(client, "fashion-mnist") == ONNXRUNTIME_PLATFORM  # only the damaged one falls back
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"job {job_id}" in warnings[0] and "PyTorch" in warnings[0]
