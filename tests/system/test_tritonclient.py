"""Triton's own HTTP client (tritonclient[http]) against a real `mnistlab serve`: the protocol as others speak it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mnistlab.datasets import load_split
from mnistlab.settings import Settings
from tests.helpers.images import png
from tests.helpers.servers import Processes, start_server

pytestmark = pytest.mark.slow


def test_tritonclient_reads_metadata_and_classifies_the_test_set(processes: Processes, settings: Settings,
                                                                 data_dir: Path) -> None:
    server = start_server(processes, settings, workers=0)
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

        with pytest.raises(InferenceServerException, match="unknown model 'cifar10'"):
            client.get_model_metadata("cifar10")
    finally:
        client.close()
