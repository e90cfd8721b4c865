"""Test accuracy after 20 epochs (Adam, batch 512, seed 0) for each architecture on both data sets.

    .venv/bin/python -m bench.accuracy --data ../shared/datasets [--epochs 20] [--device cpu]

The baseline is the brief's target for each pair; the ratio printed is accuracy / target.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from bench.common import describe_machine
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import JobConfig
from workers.training import new_state, run_epoch

TARGETS = {("mnist", "linear"): 0.92, ("mnist", "ffnn"): 0.975, ("mnist", "cnn"): 0.985,
           ("fashion-mnist", "linear"): 0.83, ("fashion-mnist", "ffnn"): 0.87, ("fashion-mnist", "cnn"): 0.88}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(describe_machine(args.device))
    print(f"{'data set':<15}{'model':<8}{'final':>8}{'best':>8}{'target':>8}{'ratio':>8}  seconds")
    with tempfile.TemporaryDirectory() as folder:
        import_all(args.data, Path(folder))
        for (dataset, model), target in TARGETS.items():
            train = load_split(Path(folder), dataset, train=True).to(device)
            test = load_split(Path(folder), dataset, train=False).to(device)
            config = JobConfig(dataset=dataset, model=model, optimizer="adam", epochs=args.epochs,
                               batch_size=512, seed=0, lr=0.001)
            state = new_state(config, device)
            rows = [run_epoch(state, train, test, batch_size=512) for _ in range(args.epochs)]
            final, best = rows[-1]["test_accuracy"], max(r["test_accuracy"] for r in rows)
            seconds = sum(r["seconds"] for r in rows)
            print(f"{dataset:<15}{model:<8}{final:>8.4f}{best:>8.4f}{target:>8.3f}{final / target:>8.3f}  {seconds:.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
