"""A real worker's epochs against the plain loop's, in one process, on the same tensors, in turns.

    .venv/bin/python -m bench.worker_epoch --data ../shared/datasets [--rounds 6] [--control]

bench/epoch_turns.py runs the two as separate processes, and a process can run the very same code 20% slower
than another for its whole life (its `plain:plain-again` gave 0.82x in one run and 0.99x in the next: where a
process's memory lies, not its code). Here there is one process. A real `workers.worker.Worker` runs in a
thread, claiming and training a job from its SQLite database in a temp MNISTLAB_HOME (heartbeat thread,
per-batch callback, both checkpoints, the metrics row); before each of its epochs it waits for its turn, and in
the other turns this script trains the plain loop's epoch (bench/epoch_speed.py's `plain_epoch`: evaluation in
batches of 1,000) on the worker's own tensors. After one warm-up epoch of each, turns go plain, worker, worker,
plain (--rounds of four). The lab's CNN on full MNIST, batch 512, Adam; torch's own thread count.

Two times per worker epoch: `run_epoch`'s (the job's `seconds`) and from the epoch's start to its row landing
(the epoch, its checkpoints and its row: the wall time between two rows less the wait for its turn). Ratios are
plain / worker: above 1 means the worker is faster. Target (issue 26, item 7): >= 0.95x by both.
--control puts a second plain loop in the worker's turns: what the method says of the same code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import describe_machine


def plain_turn(splits: list, times: list[float]) -> Callable[[], None]:
    """One epoch of the plain loop (a model of its own) on splits' (train, test), timed into `times`."""
    from bench.epoch_speed import lab_cnn, plain_epoch

    state = lab_cnn()

    def turn() -> None:
        train, test = splits
        begun = time.perf_counter()
        plain_epoch(state.model, state.optimizer, train.images, train.labels, test.images, test.labels)
        times.append(time.perf_counter() - begun)

    return turn


def alternate(plain: Callable[[], None], other: Callable[[], None], times: dict[str, list[float]],
              rounds: int) -> dict[str, list[float]]:
    """A warm-up epoch of each (the other first: a worker loads the tensors), not counted; then rounds of plain,
    other, other, plain."""
    other()
    plain()
    for values in times.values():
        values.clear()
    for _ in range(rounds):
        for turn in (plain, other, other, plain):
            turn()
    return times


def in_turns(data: Path, rounds: int) -> dict[str, list[float]]:
    os.environ.update(MNISTLAB_HOME=tempfile.mkdtemp(), MNISTLAB_DATA_DIR=str(data), MNISTLAB_DOWNLOAD="false")
    import workers.worker as worker_module
    from bench.epoch_speed import BATCH
    from mnistlab.settings import Settings
    from service.schemas import JobRequest
    from service.submission import submit_job

    settings = Settings()
    worker = worker_module.Worker(settings)
    with worker.sessions.begin() as session:
        submit_job(session, settings, JobRequest(dataset="mnist", model="cnn", optimizer="adam", epochs=1 + 2 * rounds,
                                                 batch_size=BATCH, seed=0, device="cpu"))
    times: dict[str, list[float]] = {"plain": [], "worker": [], "worker rows": []}
    its_turn, its_row = threading.Semaphore(0), threading.Semaphore(0)
    splits: list = []  # the worker's (train, test), once it has loaded them
    started: list[float] = []
    run_epoch, record_epoch = worker_module.run_epoch, worker_module.Worker._record_epoch

    def epoch_in_turn(state, train, test, **kwargs):  # type: ignore[no-untyped-def]
        its_turn.acquire()
        splits[:] = [train, test]
        started[:] = [time.perf_counter()]
        metric = run_epoch(state, train, test, **kwargs)
        times["worker"].append(time.perf_counter() - started[0])
        return metric

    def record_then_hand_over(*args, **kwargs):  # type: ignore[no-untyped-def]
        recorded = record_epoch(*args, **kwargs)
        times["worker rows"].append(time.perf_counter() - started[0])
        its_row.release()
        return recorded

    def worker_turn() -> None:
        its_turn.release()
        if not its_row.acquire(timeout=600):
            raise RuntimeError("the worker recorded no epoch in 10 minutes: see its log above")

    worker_module.run_epoch = epoch_in_turn  # the worker's own code, waiting for its turn; nothing else changes
    worker_module.Worker._record_epoch = record_then_hand_over  # type: ignore[method-assign]
    thread = threading.Thread(target=worker.run, kwargs={"max_jobs": 1}, name="worker", daemon=True)
    thread.start()
    alternate(plain_turn(splits, times["plain"]), worker_turn, times, rounds)
    thread.join()
    return times


def control_turns(data: Path, rounds: int) -> dict[str, list[float]]:
    """The method on itself: two plain loops (two models) in the same turns, on the same tensors."""
    from mnistlab.datasets import load_split

    splits = [load_split(data, "mnist", train=True), load_split(data, "mnist", train=False)]
    times: dict[str, list[float]] = {"plain": [], "plain-again": []}
    return alternate(plain_turn(splits, times["plain"]), plain_turn(splits, times["plain-again"]), times, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST/raw (e.g. ../shared/datasets)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of plain, worker, worker, plain")
    parser.add_argument("--control", action="store_true",
                        help="a second plain loop in the worker's place: what the method says of the same code")
    args = parser.parse_args()
    from mnistlab.datasets import import_all

    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        import_all(args.data, Path(folder))
        times = (control_turns if args.control else in_turns)(Path(folder), args.rounds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:<12} {' '.join(f'{value:.2f}' for value in values)}  median {medians[name]:.2f} s, "
              f"best {best[name]:.2f} s")
    for name in (name for name in times if name != "plain"):
        print(f"{name} vs plain: {medians['plain'] / medians[name]:.2f}x by medians, "
              f"{best['plain'] / best[name]:.2f}x by best of each")


if __name__ == "__main__":
    main()
