"""Choosing the default batch size: the README's first job (CNN, Adam, 3 epochs, seed 0, nothing else set)
at each candidate batch size, trained in this process on full MNIST, test accuracy and seconds.

    .venv/bin/python -m bench.defaults --data ../shared/datasets [--batch-sizes 64 128 256 512]

Target (issue 13): the job reaches >= 0.975 test accuracy at the default batch size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from bench.common import describe_machine
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import JobRequest
from workers.training import new_state, run_epoch

FIRST_JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "seed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    args = parser.parse_args()
    print(describe_machine())
    folder = TemporaryDirectory()
    import_all(args.data, Path(folder.name))  # the IDX files as torchvision reads them
    train = load_split(Path(folder.name), "mnist", train=True)
    test = load_split(Path(folder.name), "mnist", train=False)
    for batch_size in args.batch_sizes:
        config = JobRequest.model_validate({**FIRST_JOB, "batch_size": batch_size}).resolve(seed=0)
        state = new_state(config, torch.device("cpu"))
        started = time.perf_counter()
        rows = [run_epoch(state, train, test, batch_size=batch_size) for _ in range(config.epochs)]
        curve = " -> ".join(f"{row['test_accuracy']:.4f}" for row in rows)
        print(f"batch {batch_size:>4}: test accuracy {curve}, {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
