"""Time to accuracy: the lab's CNN to a test-accuracy target on full MNIST, the lab's recipe against a
schedule, both with early stopping at the target (the worker's own rule, `early_stop_reason`).

    .venv/bin/python -m bench.time_to_accuracy --data ../shared/datasets [--target 0.99] [--rounds 2]

(a) the lab's recipe: Adam, lr 1e-3 constant, batch 64, at most 30 epochs.
(b) mnistlab's: Adam, one-cycle schedule peaking at --peak-lr (0.005), batch --batch (128), planned over
    --epochs (6) epochs.
Training and evaluation as a worker runs them (workers/training.py), in this process, torch with the
machine's threads. Rounds alternate a, b, b, a; the best time of each is reported. If (a) misses the
target within its 30 epochs, the same run also reports both against 0.988 (from the same histories).
Target (issue 13): (b) at least 2x faster than (a).

With --api RECIPE [RECIPE ...] (JSON job bodies; each gets early stopping at --target): each recipe posted
to a real `mnistlab serve --workers 1` (its worker with both cores), alternated A B B A over --rounds; the
time is the job's own, submission to its final status (`finished_at - created_at`), so it counts the
queue, the data set load, every epoch's evaluation and checkpoints. Issue 23's target: 99.0% on MNIST
in 15 s or less.

With --fashion: the README's Fashion-MNIST recipe (Adam, one-cycle peaking at 0.002, batch 32, 20
epochs planned) once, stopping at 0.90 test accuracy (--fashion-recipe '{"lr": 0.003}' tries another).
Target: 0.90 within 20 epochs.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import torch

from bench.common import describe_machine, mnistlab_server
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import JobRequest, early_stop_reason
from workers.training import new_state, run_epoch

FALLBACK_TARGET = 0.988


def train_to(recipe: dict, target: float, train, test) -> list[tuple[int, float, float]]:  # type: ignore[no-untyped-def]
    """[(epoch, test accuracy, seconds since the start)] until the target is met or the epochs run out."""
    config = JobRequest.model_validate({**recipe, "early_stopping": {"target_test_accuracy": target}}).resolve(seed=0)
    state = new_state(config, torch.device("cpu"))
    started, history = time.perf_counter(), []
    while state.epoch < config.epochs and not early_stop_reason(config.early_stopping,
                                                                [row["test_accuracy"] for row in state.history]):
        row = run_epoch(state, train, test, batch_size=config.batch_size)
        history.append((row["epoch"], row["test_accuracy"], time.perf_counter() - started))
    return history


def reached(history: list[tuple[int, float, float]], target: float) -> tuple[int, float] | None:
    return next(((epoch, seconds) for epoch, accuracy, seconds in history if accuracy >= target), None)


FASHION = {"dataset": "fashion-mnist", "model": "cnn", "optimizer": "adam", "lr": 0.002, "lr_schedule": "onecycle",
           "batch_size": 32, "epochs": 20, "seed": 0}  # the README's recipe


def fashion(data: Path, recipe: dict) -> None:
    print(describe_machine())
    print(f"recipe: {recipe}")
    with TemporaryDirectory() as folder:
        import_all(data, Path(folder))
        train = load_split(Path(folder), "fashion-mnist", train=True)
        test = load_split(Path(folder), "fashion-mnist", train=False)
        history = train_to(recipe, 0.90, train, test)
    print(", ".join(f"{epoch}: {accuracy:.4f} @ {seconds:.0f}s" for epoch, accuracy, seconds in history))
    hit = reached(history, 0.90)
    print(f"0.90 reached at epoch {hit[0]} ({hit[1]:.0f} s); target: within 20 epochs" if hit else
          "0.90 not reached")


def through_the_api(data: Path, recipes: list[dict], target: float, rounds: int) -> None:
    print(describe_machine())
    best: dict[int, tuple[float, int] | None] = {}
    order = (list(range(len(recipes))) + list(range(len(recipes)))[::-1]) * rounds
    with mnistlab_server(workers=1, datasets=data) as server:
        for index in order:
            body = {**recipes[index], "early_stopping": {"target_test_accuracy": target}}
            job = httpx.post(f"{server.url}/jobs", json=body).json()
            while (job := httpx.get(f"{server.url}/jobs/{job['id']}").json())["status"] in ("queued", "running"):
                time.sleep(0.2)
            seconds = (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
            reached_it = job["best"] is not None and job["best"]["test_accuracy"] >= target
            print(f"recipe {index}: {job['status']}, epoch {job['progress']['epoch']}, best "
                  f"{job['best']['test_accuracy']:.4f}, {seconds:.1f} s submission to end{'' if reached_it else ' (target missed)'}",
                  flush=True)
            if reached_it and (best.get(index) is None or seconds < best[index][0]):  # type: ignore[index]
                best[index] = (seconds, job["progress"]["epoch"])
    for index, recipe in enumerate(recipes):
        hit = best.get(index)
        print(f"({index}) {json.dumps(recipe)}: " + (f"{target} in {hit[0]:.1f} s (epoch {hit[1]}), best of "
                                                     f"{order.count(index)}" if hit else "target not reached"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--rounds", type=int, default=2, help="pairs: 1 = a b, 2 = a b b a")
    parser.add_argument("--peak-lr", type=float, default=0.005)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--fashion", action="store_true",
                        help="instead: the README's Fashion-MNIST recipe to 0.90 within 20 epochs, once")
    parser.add_argument("--fashion-recipe", type=json.loads, default=None, help="job fields replacing the README's")
    parser.add_argument("--api", type=json.loads, nargs="+", metavar="RECIPE",
                        help="instead: these job bodies through a live server, to --target")
    args = parser.parse_args()
    if args.api:
        through_the_api(args.data, args.api, args.target, args.rounds)
        return
    if args.fashion:
        fashion(args.data, {**FASHION, **(args.fashion_recipe or {})})
        return
    recipes = {"a": {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "lr": 0.001, "batch_size": 64,
                     "epochs": 30, "seed": 0},
               "b": {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "lr": args.peak_lr,
                     "lr_schedule": "onecycle", "batch_size": args.batch, "epochs": args.epochs, "seed": 0}}
    print(describe_machine())
    for name, recipe in recipes.items():
        print(f"({name}) {recipe}")
    with TemporaryDirectory() as folder:
        import_all(args.data, Path(folder))
        train, test = load_split(Path(folder), "mnist", train=True), load_split(Path(folder), "mnist", train=False)
        runs: dict[str, list[list[tuple[int, float, float]]]] = {"a": [], "b": []}
        for name in (["a", "b", "b", "a"] * args.rounds)[:2 * args.rounds]:
            history = train_to(recipes[name], args.target, train, test)
            runs[name].append(history)
            curve = ", ".join(f"{epoch}: {accuracy:.4f} @ {seconds:.0f}s" for epoch, accuracy, seconds in history)
            print(f"({name}) {curve}", flush=True)
    for target in (args.target, FALLBACK_TARGET):
        best = {}
        for name, histories in runs.items():
            times = [hit for history in histories if (hit := reached(history, target))]
            best[name] = min(times, key=lambda hit: hit[1]) if times else None
        summary = {name: (f"epoch {hit[0]}, {hit[1]:.1f} s" if hit else "not reached") for name, hit in best.items()}
        ratio = f"{best['a'][1] / best['b'][1]:.2f}x faster" if best["a"] and best["b"] else "no ratio"
        print(f"to {target}: (a) {summary['a']}; (b) {summary['b']}; (b) is {ratio} (target >= 2x)")


if __name__ == "__main__":
    main()
