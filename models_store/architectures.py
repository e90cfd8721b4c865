"""The networks: the lab's three (exactly as the lab defines them) and `convnet`, the best small model.

Each is an nn.Sequential, so that summaries, exports and explanations can walk its layers in order."""

from __future__ import annotations

import hashlib
import threading
from functools import lru_cache

import torch
from torch import nn

from mnistlab.spec import ARCHITECTURES, DEFAULT_HIDDEN

# A layer's initial weights come from torch's one global CPU generator: two threads making models at once
# (an API process's request threads, a model loading beside a job's init_hash) would interleave their draws.
# Every model is made under this lock (reentrant: initial_model seeds, then builds, inside it).
GLOBAL_GENERATOR_LOCK = threading.RLock()


def build_model(model: str, *, hidden: int | None = None) -> nn.Sequential:
    """The network with torch's default initialisation, drawn from the global generator (one thread at a
    time: see initial_model)."""
    with GLOBAL_GENERATOR_LOCK:
        return _build(model, hidden)


def _build(model: str, hidden: int | None) -> nn.Sequential:
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
    if model == "convnet":
        return convnet()
    raise ValueError(f"unknown model {model!r}; expected one of {', '.join(ARCHITECTURES)}")


def _conv_block(inputs: int, outputs: int, kernel: int) -> list[nn.Module]:
    # No bias: batch norm's shift does its job.
    return [nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True)]


def convnet() -> nn.Sequential:
    """Conv + batch norm + ReLU blocks, two max-pools, global average pooling, dropout: 70,330 parameters.

    Sized for CPUs: one narrow block at 28x28, then the wide ones at 14x14 and 7x7, where a convolution
    costs a quarter and a sixteenth as much (5.5M multiply-adds an image; bench/convnet_widths.py measured
    it 1.2-1.3x faster than a second block at 28x28 and 3.5-3.8x faster than a 288k-parameter one)."""
    return nn.Sequential(
        *_conv_block(1, 16, 3), nn.MaxPool2d(2),
        *_conv_block(16, 32, 3), *_conv_block(32, 32, 3), nn.MaxPool2d(2),
        *_conv_block(32, 64, 3), *_conv_block(64, 64, 3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10),
    )


def uses_channels_last(model: str) -> bool:
    """Train this architecture in channels-last memory format: oneDNN's convolutions with batch norm ran
    1.35x faster so (bench/convnet_widths.py). The lab's models keep the default layout, so that their
    seeded results stay exactly what they were."""
    return model == "convnet"


def initial_model(model: str, *, hidden: int | None, seed: int) -> nn.Sequential:
    """The model's initial weights depend on (architecture, seed) alone, not on global RNG state, whatever
    other threads do. The generator is seeded directly: torch.manual_seed, once dynamo is loaded (an ONNX
    export), goes through a wrapper whose shared state another thread's export changes (a KeyError)."""
    generator = torch.default_generator
    with GLOBAL_GENERATOR_LOCK:
        state = generator.get_state()
        try:
            generator.manual_seed(seed)
            return build_model(model, hidden=hidden)
        finally:
            generator.set_state(state)


def weights_hash(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=256)
def initial_weights_hash(model: str, hidden: int | None, seed: int) -> str:
    return weights_hash(initial_model(model, hidden=hidden, seed=seed))


def eval_batch_size(model: nn.Module, device: torch.device) -> int:
    """Measured (bench/epoch_speed.py): on a CPU, convolution activations of 1,000 images still fit in
    cache while bigger batches spill; matrix products of dense layers keep getting faster up to 10,000.
    A GPU wants big batches either way. Workers and the API's evaluations both use it, so their
    numbers agree exactly."""
    if device.type != "cpu":
        return 8192
    return 1000 if any(isinstance(m, nn.Conv2d) for m in model.modules()) else 10_000


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
