"""Triton's own HTTP client (tritonclient[http]) against a real `mnistlab serve`: the protocol as others speak it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image, ImageDraw
from tritonclient.utils import InferenceServerException

from mnistlab.datasets import load_split
from tests.helpers.images import png
from tests.helpers.servers import REPO, LiveServer, module_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module (its tests only read models and predict), serving the shipped models."""
    home = tmp_path_factory.mktemp("triton")
    (home / "no-datasets").mkdir()
    with module_server(home / "home", home / "no-datasets", workers=0) as (running, _):
        yield running


def test_tritonclient_reads_metadata_and_classifies_the_test_set(server: LiveServer, data_dir: Path) -> None:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        metadata = client.get_model_metadata("fashion-mnist")
        assert [i["name"] for i in metadata["inputs"]] == ["images", "image_bytes"]

        test = load_split(data_dir, "mnist", train=False)
        images, labels = test.images[:1000].numpy(), test.labels[:1000].numpy()
        for binary in (True, False):  # Triton's binary tensor extension, and plain JSON
            tensor = triton.InferInput("images", list(images.shape), "FP32")
            tensor.set_data_from_numpy(images, binary_data=binary)
            outputs = [triton.InferRequestedOutput(name, binary_data=binary)
                       for name in ("label", "probabilities", "class_name")]
            result = client.infer("mnist", [tensor], outputs=outputs, request_id="batch-1000")
            predicted = result.as_numpy("label")
            assert predicted.shape == (1000,) and (predicted == labels).mean() >= 0.985
            assert result.as_numpy("probabilities").shape == (1000, 10)
            assert np.allclose(result.as_numpy("probabilities").sum(axis=1), 1.0, atol=1e-5)
            names = result.as_numpy("class_name")[:5]  # tritonclient gives bytes from binary data, str from JSON
            assert [n.decode() if isinstance(n, bytes) else n for n in names] == [str(v) for v in predicted[:5]]
            assert result.get_response()["id"] == "batch-1000"

        files = np.array([png(image[0]) for image in images[:8]], dtype=np.object_)
        tensor = triton.InferInput("image_bytes", [8], "BYTES")
        tensor.set_data_from_numpy(files, binary_data=True)
        result = client.infer("mnist", [tensor], outputs=[triton.InferRequestedOutput("label")])
        assert result.as_numpy("label").tolist() == labels[:8].tolist()

        raw = np.round(images[:8, 0] * 255).astype(np.uint8)  # UINT8 [N,28,28], 0-255
        tensor = triton.InferInput("images", [8, 28, 28], "UINT8")
        tensor.set_data_from_numpy(raw)
        assert client.infer("mnist", [tensor]).as_numpy("label").tolist() == labels[:8].tolist()

        with pytest.raises(InferenceServerException, match="unknown model 'cifar10'"):
            client.get_model_metadata("cifar10")
        broken = images[:2].copy()
        broken[1, 0, 3, 3] = np.nan
        tensor = triton.InferInput("images", list(broken.shape), "FP32")
        tensor.set_data_from_numpy(broken)
        with pytest.raises(InferenceServerException, match="NaN or infinite values") as refused:
            client.infer("mnist", [tensor])
        assert refused.value.status() == "400"
        assert client.is_server_live()  # and it keeps answering
    finally:
        client.close()


def test_the_readme_tritonclient_example_runs_as_written(server: LiveServer, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    example = re.search(r"With Triton's own client.*?```sh\n(.*?)```", readme, re.S)
    assert example, "the README lost its tritonclient example"
    script = example[1].replace("127.0.0.1:8000", server.url.removeprefix("http://"))
    script = script.replace(".venv/bin/python", sys.executable)
    seven = Image.new("L", (200, 200), "white")  # the walkthrough's seven.png
    ImageDraw.Draw(seven).line([(40, 40), (160, 40), (90, 170)], fill="black", width=14)
    seven.save(tmp_path / "seven.png")
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    label, class_name, confidence = re.fullmatch(r"\[(\d)\] \[b'(\d)'\] (\S+)\n", run.stdout).groups()
    assert label == class_name and 0.1 <= float(confidence) <= 1.0
