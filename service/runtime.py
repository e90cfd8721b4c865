"""What runs a served model's forward pass: onnxruntime on the CPU, or PyTorch.

`MNISTLAB_RUNTIME=auto` (the default) serves every model with onnxruntime when it is installed: each model is
exported to ONNX once (the export cache beside the checkpoints, service/exports.py) and run by an
onnxruntime session; it answered the lab's CNN 5-10x faster than PyTorch eager on these CPUs
(docs/benchmarks.md). `torch` serves with PyTorch. A model onnxruntime cannot load (or export) is served
with PyTorch instead, with one warning in the log: the answer never depends on which runtime gave it
(tests/service/test_runtime.py holds them to the same labels and probabilities within 1e-5).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from mnistlab.logs import one_line
from mnistlab.settings import RuntimeName

log = logging.getLogger(__name__)
# Names as Triton's model metadata gives them (the Open Inference Protocol's `platform`).
ONNXRUNTIME_PLATFORM, PYTORCH_PLATFORM = "onnxruntime_onnx", "pytorch_libtorch"


class Runner(Protocol):
    platform: str

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: N x 28 x 28 (or N x 1 x 28 x 28) float32 in [0, 1] -> N x 10 class probabilities."""
        ...


def as_batch(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images, dtype=np.float32).reshape(-1, 1, 28, 28)


class TorchRunner:
    platform = PYTORCH_PLATFORM

    def __init__(self, module: nn.Module) -> None:
        self._module = module

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(self._module(torch.from_numpy(as_batch(images))), dim=1).numpy()


class OnnxRunner:
    platform = ONNXRUNTIME_PLATFORM

    def __init__(self, path: Path, *, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # As many threads as PyTorch has in this process: one in each of `serve`'s API processes, which
        # share the cores between them (service/serving.py); a pool per process would oversubscribe them.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise here
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self._session.run(["probabilities"], {"images": as_batch(images)})[0]


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class RuntimeChooser:
    """Gives each model its runner, by the MNISTLAB_RUNTIME setting and what this machine can do."""

    def __init__(self, setting: RuntimeName) -> None:
        self.setting = setting
        self.uses_onnxruntime = setting != "torch" and onnxruntime_installed()
        if setting == "onnxruntime" and not self.uses_onnxruntime:
            log.warning("MNISTLAB_RUNTIME=onnxruntime but onnxruntime is not installed: serving with PyTorch")

    def runner(self, module: nn.Module, export: Callable[[], Path], name: str) -> Runner:
        """export(): the model's ONNX file, made unless already there. name: the model, for the log."""
        if not self.uses_onnxruntime:
            return TorchRunner(module)
        try:
            return OnnxRunner(export(), threads=torch.get_num_threads())
        except Exception as error:  # whatever the exporter or onnxruntime objects to, PyTorch still answers
            log.warning("%s: onnxruntime cannot serve it (%s); serving it with PyTorch", name,
                        one_line(f"{type(error).__name__}: {error}"))
            return TorchRunner(module)

