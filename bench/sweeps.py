"""Sweeps on full data sets against a real `mnistlab serve --workers 2`: the lab in one request, and
what pruning saves.

    .venv/bin/python -m bench.sweeps lab     --data ../shared/datasets [--out docs/sweep-lab.png]
    .venv/bin/python -m bench.sweeps pruning --data ../shared/datasets

lab: optimizer sgd|adam x model linear|ffnn|cnn x data set mnist|fashion-mnist, 5 epochs each (12 jobs),
prints the leaderboard and saves the sweep's plot.

pruning: the same 16-trial random search (CNN on MNIST; lr log-uniform 1e-4..0.1, batch size 64..512,
optimizer sgd|adam; 4 epochs; sampler seed 0; job seed 0) run twice in one sitting, without a pruner
(the baseline) and with the median pruner; prints the epochs each ran and each one's best test accuracy.
Target: the pruned search runs at most 70% of the baseline's epochs, and its best is within 0.5 points.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from bench.common import describe_machine, mnistlab_server

LAB = {"name": "the lab: SGD against Adam", "base": {"epochs": 5, "batch_size": 128, "seed": 0},
       "grid": {"optimizer": ["sgd", "adam"], "model": ["linear", "ffnn", "cnn"], "dataset": ["mnist", "fashion-mnist"]}}
SEARCH = {"base": {"dataset": "mnist", "model": "cnn", "epochs": 4, "seed": 0},
          "search": {"sampler": "random", "trials": 16, "seed": 0,
                     "space": {"lr": {"low": 1e-4, "high": 0.1, "log": True}, "batch_size": [64, 128, 256, 512],
                               "optimizer": ["sgd", "adam"]}},
          "max_parallel": 2}


def run_sweep(client: httpx.Client, body: dict) -> dict:
    started = time.perf_counter()
    sweep = client.post("/sweeps", json=body)
    sweep.raise_for_status()
    sweep_id = sweep.json()["id"]
    while (state := client.get(f"/sweeps/{sweep_id}").json())["status"] == "running":
        time.sleep(2)
    state["wall_seconds"] = time.perf_counter() - started
    return state


def print_board(sweep: dict) -> None:
    print(f"sweep {sweep['id']} {sweep['name']!r}: {sweep['status']}, {sweep['counts']}, "
          f"{sweep['wall_seconds']:.0f} s wall")
    for row in sweep["leaderboard"]:
        print(f"  #{row['trial']:<3} {row['status']:<9} best {row['best_test_accuracy'] or 0:.4f} "
              f"epochs {row['epochs_run']} {row['seconds']:6.1f} s  {row['params']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["lab", "pruning"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/sweep-lab.png"))
    args = parser.parse_args()
    print(describe_machine())
    with mnistlab_server(workers=2, datasets=args.data) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        if args.which == "lab":
            sweep = run_sweep(client, LAB)
            print_board(sweep)
            args.out.write_bytes(client.get(f"/sweeps/{sweep['id']}/plot.png").content)
            print(f"plot: {args.out}")
            return
        results = {}
        for pruner in ("none", "median"):
            sweep = run_sweep(client, {**SEARCH, "name": f"cnn search, pruner {pruner}", "pruner": pruner})
            print_board(sweep)
            results[pruner] = sweep
        epochs = {name: sum(row["epochs_run"] for row in s["leaderboard"]) for name, s in results.items()}
        best = {name: max(row["best_test_accuracy"] or 0 for row in s["leaderboard"]) for name, s in results.items()}
        print(f"epochs: {epochs['none']} without pruning, {epochs['median']} with the median pruner "
              f"({epochs['median'] / epochs['none']:.0%}; target <= 70%)")
        print(f"best test accuracy: {best['none']:.4f} without, {best['median']:.4f} with "
              f"({(best['median'] - best['none']) * 100:+.2f} points; target within 0.5)")


if __name__ == "__main__":
    main()
