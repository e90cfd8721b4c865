"""Test accuracy after 20 epochs (Adam, batch 512, seed 0) for each architecture on both data sets.

    .venv/bin/python -m bench.accuracy --data ../shared/datasets [--epochs 20] [--device cpu]
    .venv/bin/python -m bench.accuracy --data ../shared/datasets --shipped

The baseline is the brief's target for each pair; the ratio printed is accuracy / target.
With --shipped: the shipped default models on the whole test sets, in PyTorch and in onnxruntime (what
serves them), against issue 23's targets (MNIST >= 0.995, Fashion-MNIST >= 0.930), with the recipe and the
training time their cards record.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.common import describe_machine
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import JobConfig
from models_store.shipped import SHIPPED_DIR, load_shipped, shipped_onnx_path
from service.registry import make_loaded
from service.runtime import OnnxRunner, TorchRunner
from workers.training import new_state, run_epoch

SHIPPED_TARGETS = {"mnist": 0.995, "fashion-mnist": 0.930}
TARGETS = {("mnist", "linear"): 0.92, ("mnist", "ffnn"): 0.975, ("mnist", "cnn"): 0.985,
           ("fashion-mnist", "linear"): 0.83, ("fashion-mnist", "ffnn"): 0.87, ("fashion-mnist", "cnn"): 0.88}


def shipped(data_dir: Path) -> None:
    for dataset, target in SHIPPED_TARGETS.items():
        card = json.loads((SHIPPED_DIR / f"{dataset}.json").read_text())
        loaded = make_loaded(job_id=None, dataset=dataset, model=card["model"], hidden=None, epoch=card["epoch"],
                             test_accuracy=card["test_accuracy"], weights=load_shipped(dataset).weights)
        # The shipped export, as the server runs it.
        runners = {"PyTorch": TorchRunner(loaded.module),
                   "onnxruntime": OnnxRunner(shipped_onnx_path(dataset), threads=2)}
        test = load_split(data_dir, dataset, train=False)
        images, labels = test.images.numpy(), test.labels.numpy()
        accuracy = {name: float(np.mean(np.concatenate([runner.probabilities(images[i:i + 1000]).argmax(1)
                                                        for i in range(0, len(images), 1000)]) == labels))
                    for name, runner in runners.items()}
        print(f"{dataset}: {card['model']}, epoch {card['epoch']}; test accuracy PyTorch {accuracy['PyTorch']:.4f}, "
              f"onnxruntime {accuracy['onnxruntime']:.4f}; target {target:.3f} "
              f"({'met' if min(accuracy.values()) >= target else 'NOT met'})")
        print(f"  recipe {json.dumps(card.get('recipe'))}")
        print(f"  trained in {card.get('training_seconds', '?')} s on {card.get('trained_on', '?')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shipped", action="store_true", help="measure the shipped default models instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(describe_machine(args.device))
    if args.shipped:
        with tempfile.TemporaryDirectory() as folder:
            import_all(args.data, Path(folder))
            shipped(Path(folder))
        return
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
