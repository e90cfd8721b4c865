"""One epoch (train + evaluation on train and test) of mnistlab against two baselines, per architecture.

    .venv/bin/python -m bench.epoch_speed --data ../shared/datasets [--device cuda] [--repeats 2] [--no-worker]

Contenders, all measured in this run, each the same number of times, alternated (plain, mnistlab,
DataLoader, DataLoader, mnistlab, plain, ...) and reported as the best of each:
- plain: the loop a competent engineer writes over the same preloaded tensors: shuffled mini-batches of
  512 with Adam, then accuracy on train and test in batches of 1,000;
- mnistlab: `workers.training.run_epoch` in this process;
- DataLoader: the lab's loop, torchvision Dataset + DataLoader(ToTensor), evaluating in batches of 1,000;
- live worker (CPU only): a real `mnistlab serve --workers 1` training a job, two ways: the wall time between
  two epochs' records in the database (evaluation, both checkpoint writes, the metrics row, the heartbeats),
  and the job's own `seconds` for the epoch (what a user reads in its metrics). Its rounds alternate with
  plain-loop rounds in the same way.
Targets: mnistlab >= 0.95x plain, >= 2x DataLoader; live worker >= 0.95x plain by both measures.

With --augmentation PRESET: instead, what augmentation costs. For each model, mnistlab's epoch without
augmentation (A) and with the preset (B), alternated A B B A, --repeats epochs each time, best of each
(issue 23's target: B at most 1.3x A).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets as tv_datasets
from torchvision.transforms import ToTensor

from bench.common import describe_machine, mnistlab_server
from mnistlab.datasets import import_all, load_split
from mnistlab.spec import AUGMENTATION_PRESETS, JobConfig
from workers.training import TrainState, new_state, run_epoch

BATCH = 512
EVAL_BATCH = 1000


def lab_cnn() -> TrainState:
    """The lab's CNN with Adam (lr 0.001) at batch BATCH on the CPU: what the in-turns comparisons train."""
    return new_state(JobConfig(dataset="mnist", model="cnn", optimizer="adam", epochs=1, batch_size=BATCH, seed=0,
                               lr=0.001), torch.device("cpu"))


def plain_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                test_images: torch.Tensor, test_labels: torch.Tensor) -> None:
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(labels)).to(images.device)
    for start in range(0, len(labels), BATCH):
        index = order[start:start + BATCH]
        optimizer.zero_grad()
        loss_fn(model(images[index]), labels[index]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for x, y in ((images, labels), (test_images, test_labels)):
            correct = sum(int((model(x[s:s + EVAL_BATCH]).argmax(1) == y[s:s + EVAL_BATCH]).sum())
                          for s in range(0, len(y), EVAL_BATCH))
            assert 0 <= correct <= len(y)


def dataloader_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, train_loader: DataLoader,
                     eval_loaders: list[DataLoader], device: torch.device) -> None:
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    for x, y in train_loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        for loader in eval_loaders:
            for x, y in loader:
                (model(x.to(device)).argmax(1) == y.to(device)).sum().item()


def timed(run: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    started = time.perf_counter()
    run()
    sync()
    return time.perf_counter() - started


def live_worker_epochs(data_dir: Path, model: str, epochs: int) -> tuple[list[float], list[float]]:
    """A job trained by a real `serve --workers 1`: the wall seconds between successive epochs' records, and
    the job's own `seconds` of each epoch after the first (what the worker timed: training and evaluation)."""
    with mnistlab_server(workers=1, env={"MNISTLAB_DATA_DIR": str(data_dir)}, warm=True) as server:
        job = {"dataset": "mnist", "model": model, "optimizer": "adam", "epochs": epochs, "batch_size": BATCH,
               "seed": 0, "device": "cpu"}
        job_id = httpx.post(f"{server.url}/jobs", json=job).json()["id"]
        while (status := httpx.get(f"{server.url}/jobs/{job_id}").json()["status"]) in ("queued", "running"):
            time.sleep(0.5)
        assert status == "succeeded", status
        with sqlite3.connect(server.home / "mnistlab.db") as database:
            rows = database.execute("SELECT created_at, seconds FROM epoch_metrics WHERE job_id = ? ORDER BY epoch",
                                    (job_id,)).fetchall()
    stamps = [datetime.fromisoformat(stamp) for stamp, _ in rows]
    return ([(later - earlier).total_seconds() for earlier, later in zip(stamps, stamps[1:])],
            [seconds for _, seconds in rows[1:]])


def augmentation_cost(train, test, models: list[str], preset: str, repeats: int,  # type: ignore[no-untyped-def]
                      device: torch.device, sync: Callable[[], None]) -> None:
    values = AUGMENTATION_PRESETS[preset].model_dump()
    print(f"augmentation {preset!r}: {values}; batch {BATCH}, Adam", flush=True)
    print(f"{'model':<9}{'plain epoch s':>14}{'augmented s':>13}{'ratio':>8}", flush=True)
    for model_name in models:
        configs = {name: JobConfig(dataset="mnist", model=model_name, optimizer="adam", epochs=1, batch_size=BATCH,
                                   seed=0, lr=0.001, augmentation=values if name == "augmented" else None)
                   for name in ("plain", "augmented")}
        states = {name: new_state(config, device) for name, config in configs.items()}
        times: dict[str, list[float]] = {"plain": [], "augmented": []}
        for name in ("plain", "augmented", "augmented", "plain"):
            times[name] += [timed(lambda: run_epoch(states[name], train, test, batch_size=BATCH), sync)
                            for _ in range(repeats)]
        plain, augmented = min(times["plain"]), min(times["augmented"])
        print(f"{model_name:<9}{plain:>14.2f}{augmented:>13.2f}{augmented / plain:>7.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST/raw (e.g. ../shared/datasets)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs per contender and round (2 rounds)")
    parser.add_argument("--models", nargs="+", default=["linear", "ffnn", "cnn"])
    parser.add_argument("--no-worker", action="store_true", help="leave out the live worker")
    parser.add_argument("--augmentation", choices=sorted(AUGMENTATION_PRESETS),
                        help="measure what this augmentation preset costs an epoch instead")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with_worker = device.type == "cpu" and not args.no_worker
    print(describe_machine(args.device))
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        import_all(args.data, data_dir)
        train = load_split(data_dir, "mnist", train=True).to(device)
        test = load_split(data_dir, "mnist", train=False).to(device)
        if args.augmentation:
            augmentation_cost(train, test, args.models, args.augmentation, args.repeats, device, sync)
            return
        tv_train = tv_datasets.MNIST(str(data_dir), train=True, transform=ToTensor())
        tv_test = tv_datasets.MNIST(str(data_dir), train=False, transform=ToTensor())
        train_loader = DataLoader(tv_train, batch_size=BATCH, shuffle=True)
        eval_loaders = [DataLoader(tv_train, batch_size=EVAL_BATCH), DataLoader(tv_test, batch_size=EVAL_BATCH)]
        header = f"{'model':<8}{'plain s':>9}{'mnistlab s':>12}{'DataLoader s':>14}{'vs plain':>10}{'vs DataLoader':>15}"
        print(header + (f"{'worker wall s':>15}{'vs plain':>10}{'job seconds':>13}{'vs plain':>10}" if with_worker
                        else ""), flush=True)
        for model_name in args.models:
            config = JobConfig(dataset="mnist", model=model_name, optimizer="adam", epochs=1, batch_size=BATCH,
                               seed=0, lr=0.001)
            states = {name: new_state(config, device) for name in ("plain", "mnistlab", "DataLoader")}
            runs: dict[str, Callable[[], object]] = {
                "plain": lambda: plain_epoch(states["plain"].model, states["plain"].optimizer, train.images,
                                             train.labels, test.images, test.labels),
                "mnistlab": lambda: run_epoch(states["mnistlab"], train, test, batch_size=BATCH),
                "DataLoader": lambda: dataloader_epoch(states["DataLoader"].model, states["DataLoader"].optimizer,
                                                       train_loader, eval_loaders, device),
            }
            times: dict[str, list[float]] = {name: [] for name in [*runs, "worker", "worker seconds", "plain beside worker"]}
            order = ["plain", "mnistlab", "DataLoader"]
            for name in order + order[::-1]:  # A B C C B A
                times[name] += [timed(runs[name], sync) for _ in range(args.repeats)]
            if with_worker:  # plain W W plain: the worker's rounds between plain-loop rounds
                for name in ("plain", "worker", "worker", "plain"):
                    if name == "worker":
                        walls, own = live_worker_epochs(data_dir, model_name, args.repeats + 1)
                        times["worker"] += walls
                        times["worker seconds"] += own
                    else:
                        times["plain beside worker"] += [timed(runs["plain"], sync) for _ in range(args.repeats)]
            best = {name: min(values) for name, values in times.items() if values}
            line = (f"{model_name:<8}{best['plain']:>9.2f}{best['mnistlab']:>12.2f}{best['DataLoader']:>14.2f}"
                    f"{best['plain'] / best['mnistlab']:>9.2f}x{best['DataLoader'] / best['mnistlab']:>14.2f}x")
            if with_worker:
                beside = best["plain beside worker"]
                line += (f"{best['worker']:>15.2f}{beside / best['worker']:>9.2f}x{best['worker seconds']:>13.2f}"
                         f"{beside / best['worker seconds']:>9.2f}x  (plain beside it {beside:.2f} s)")
            print(line, flush=True)
    print(f"best of {2 * args.repeats} timed epochs per contender; the live worker is compared with the plain-loop "
          f"rounds it alternated with")


if __name__ == "__main__":
    main()
