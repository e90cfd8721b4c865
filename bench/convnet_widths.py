"""Why the convnet has the widths it has: training speed of candidate conv + batch-norm networks on this CPU.

    .venv/bin/python -m bench.convnet_widths [--batch 128] [--steps 10]

Each candidate (blocks of conv 3x3 + batch norm + ReLU, max-pools between stages, global average pooling,
dropout, one linear layer) trains --steps Adam steps on random 28x28 batches, in the default memory
format and in channels-last, twice each, alternated; the best of each is reported as images/s and as the
seconds a 60,000-image epoch would take. The lab's CNN is the reference. No data set needed.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from bench.common import describe_machine
from models_store.architectures import _conv_block, build_model, count_parameters

# stage widths, finest resolution first: (28x28 blocks, 14x14 blocks, 7x7 blocks)
CANDIDATES = {
    "16 | 32,32 | 64,64 (convnet)": ((16,), (32, 32), (64, 64)),
    "16,16 | 32,32 | 64,64": ((16, 16), (32, 32), (64, 64)),
    "32 | 64,64 | 128": ((32,), (64, 64), (128,)),
    "24 | 48,48 | 96,96": ((24,), (48, 48), (96, 96)),
    "32,32 | 64,64 | 128,128": ((32, 32), (64, 64), (128, 128)),
}


def candidate(stages: tuple[tuple[int, ...], ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for index, widths in enumerate(stages):
        for width in widths:
            layers += _conv_block(channels, width, 3)
            channels = width
        if index < len(stages) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels, 10))


def images_per_second(network: nn.Module, batch: int, steps: int, channels_last: bool) -> float:
    images, labels = torch.rand(batch * steps, 1, 28, 28), torch.randint(0, 10, (batch * steps,))
    if channels_last:
        network, images = network.to(memory_format=torch.channels_last), images.contiguous(
            memory_format=torch.channels_last)
    optimizer, loss_fn = torch.optim.Adam(network.parameters()), nn.CrossEntropyLoss()
    network.train()
    started = time.perf_counter()
    for step in range(steps):
        optimizer.zero_grad()
        loss_fn(network(images[step * batch:(step + 1) * batch]), labels[step * batch:(step + 1) * batch]).backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(describe_machine())
    networks = {"the lab's cnn": lambda: build_model("cnn"),
                **{name: (lambda stages=stages: candidate(stages)) for name, stages in CANDIDATES.items()}}
    assert count_parameters(candidate(CANDIDATES["16 | 32,32 | 64,64 (convnet)"])) == \
        count_parameters(build_model("convnet")), "the first candidate is the shipped architecture"
    print(f"{'network':<30}{'parameters':>11}{'images/s':>10}{'epoch s':>9}{'channels-last':>15}{'epoch s':>9}")
    for name, make in networks.items():
        best = {False: 0.0, True: 0.0}
        for channels_last in (False, True, True, False):
            best[channels_last] = max(best[channels_last], images_per_second(make(), args.batch, args.steps,
                                                                              channels_last))
        print(f"{name:<30}{count_parameters(make()):>11,}{best[False]:>10,.0f}{60_000 / best[False]:>9.1f}"
              f"{best[True]:>15,.0f}{60_000 / best[True]:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
