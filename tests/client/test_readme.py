"""The README's command-line walkthrough and its Python client example, run as written against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.helpers.servers import REPO, LiveServer, module_server

pytestmark = [pytest.mark.slow, pytest.mark.datasets]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[LiveServer]:
    """One server with a worker, as the README starts it: the walkthrough (which numbers its jobs from 1, so it
    runs first) and the onnxruntime example, which only reads the default model, share it."""
    with module_server(tmp_path_factory.mktemp("readme") / "home", small_data_dir) as (running, _):
        yield running


def _walkthrough() -> str:
    readme = (REPO / "README.md").read_text()
    return readme[readme.index("## Walkthrough"):readme.index("## The lab, one request away")]


def _seven(folder: Path) -> None:
    seven = Image.new("L", (200, 200), "white")  # the walkthrough's seven.png
    ImageDraw.Draw(seven).line([(40, 40), (160, 40), (90, 170)], fill="black", width=14)
    seven.save(folder / "seven.png")


def test_every_walkthrough_command_and_the_python_example_run_as_written(server: LiveServer, tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MNISTLAB_")}, "MNISTLAB_URL": server.url,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    _seven(tmp_path)
    blocks = re.findall(r"```sh\n(.*?)```", _walkthrough(), re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("mnistlab ")]
    assert len(commands) == 11 and commands[0].startswith("mnistlab jobs submit")
    for command in commands:
        run = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, f"{command}: {run.stderr}"
    assert (tmp_path / "job1.pt").stat().st_size > 0

    (example,) = re.findall(r"```python\n(.*?)```", _walkthrough(), re.S)
    run = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    *epochs, predicted, default = run.stdout.splitlines()
    assert [line.split()[0] for line in epochs] == ["1", "2"]
    job_id, class_name, confidence = predicted.split()
    assert job_id == "2" and class_name.isdigit() and 0 < float(confidence) <= 1
    assert 0.9 < float(default) <= 1  # the shipped model's test accuracy (reset by the walkthrough)
    assert (tmp_path / "linear.pt").stat().st_size > 0


def test_the_onnxruntime_example_runs_as_written(server: LiveServer, tmp_path: Path) -> None:
    import numpy as np
    import torch

    from models_store.architectures import build_model
    from models_store.shipped import load_shipped

    readme = (REPO / "README.md").read_text()
    example = re.search(r"Classify the walkthrough's seven with onnxruntime alone:\n\n```sh\n(.*?)```", readme, re.S)
    assert example, "the README lost its onnxruntime example"
    script = example[1].replace("http://127.0.0.1:8000", server.url).replace(".venv/bin/python", sys.executable)
    _seven(tmp_path)
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    # What PyTorch's shipped model says for the same pixels.
    pixels = 1 - np.asarray(Image.open(tmp_path / "seven.png").convert("L").resize((28, 28)), np.float32) / 255
    shipped = load_shipped("mnist")
    network = build_model(shipped.model)
    network.load_state_dict(shipped.weights)
    with torch.inference_mode():
        expected = int(network.eval()(torch.from_numpy(pixels).reshape(1, 1, 28, 28)).argmax())
    assert run.stdout == f"{expected}\n"
