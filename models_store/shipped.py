"""The default models shipped with mnistlab (made by scripts/train_default_models.py): per data set its weights
(`.pt`), its card (`.json`) and the same network exported to ONNX (`.onnx`), so that a server serves it with
onnxruntime from its first request without exporting it first (seconds of CPU per model)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from models_store import checkpoints

SHIPPED_DIR = Path(__file__).parent / "shipped"


@dataclass(frozen=True)
class ShippedModel:
    dataset: str
    model: str
    epoch: int
    test_accuracy: float
    weights: dict[str, torch.Tensor]


def load_shipped(dataset: str) -> ShippedModel:
    card = json.loads((SHIPPED_DIR / f"{dataset}.json").read_text())
    weights = checkpoints.load(SHIPPED_DIR / f"{dataset}.pt")
    return ShippedModel(dataset=dataset, model=card["model"], epoch=card["epoch"],
                        test_accuracy=card["test_accuracy"], weights=weights)


def shipped_onnx_path(dataset: str) -> Path:
    """The shipped model as ONNX, exported from the shipped weights by the script that made them."""
    return SHIPPED_DIR / f"{dataset}.onnx"
