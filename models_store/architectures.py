"""The lab's three networks, built with nn.Sequential from a small config."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import torch
from torch import nn

ARCHITECTURES = ("linear", "ffnn", "cnn")
DEFAULT_HIDDEN = 128


def build_model(model: str, *, hidden: int | None = None) -> nn.Sequential:
    if model == "linear":  # softmax regression: the softmax lives in the loss
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    if model == "ffnn":
        width = hidden or DEFAULT_HIDDEN
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, width), nn.ReLU(), nn.Linear(width, 10))
    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
        )
    raise ValueError(f"unknown model {model!r}; expected one of {', '.join(ARCHITECTURES)}")


def initial_model(model: str, *, hidden: int | None, seed: int) -> nn.Sequential:
    """The model's initial weights depend on (architecture, seed) alone, not on global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(model, hidden=hidden)


def weights_hash(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=256)
def initial_weights_hash(model: str, hidden: int | None, seed: int) -> str:
    return weights_hash(initial_model(model, hidden=hidden, seed=seed))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
