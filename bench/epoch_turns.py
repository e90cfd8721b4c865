"""The plain loop against mnistlab's worker, in turns of one second: a comparison the machine's drift cannot skew.

    .venv/bin/python -m bench.epoch_turns --data ../shared/datasets [--seconds 150] [--pairs worker:plain ...]

These machines' epoch time moves by up to 1.5x within minutes, more than the 5% the live-worker target is
about. Here two contenders run at once as separate processes, each training the lab's CNN on full MNIST
(batch 512, Adam) epoch after epoch, but only one runs at a time: every second this script stops one
(SIGSTOP) and continues the other (SIGCONT). Each epoch's time is its wall time less the time its process
was stopped, so both contenders see the same machine within a second of each other. Contenders:
- plain: the loop a competent engineer writes (bench/epoch_speed.py's `plain_epoch`, evaluation in batches
  of 1,000);
- worker: a real `workers.worker.Worker` claiming and training a 50-epoch job from a SQLite database in a
  temp MNISTLAB_HOME, with its heartbeat thread, per-batch callback and checkpoints: what a live worker
  runs (its API is not needed for training); the time of each epoch is `run_epoch`'s, as the job's
  `seconds` are, and `worker rows` is the wall time from one epoch's row to the next (the epoch, its
  checkpoints and its row);
- worker-t2: the same, with `torch.set_num_threads(2)` first, as `serve --workers 1` starts it on two cores;
- plain-again: the plain loop a second time (`plain:plain-again` shows what the method itself does: 1.0x
  up to its noise).
Prints each contender's epochs and two ratios, of the medians and of the best of each (plain / other: above 1
means the other is faster). The first contender of a pair starts first; run a pair both ways round.

Mind what a pair of processes measures: a process keeps a speed drawn when it starts (`plain:plain-again` gave
0.82x in one run, 0.99x in the next; docs/benchmarks.md). For the worker's own cost, bench/worker_epoch.py runs
both in one process on the same tensors.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import describe_machine

CONTENDERS = ("plain", "plain-again", "worker", "worker-t2")
SLICE = 1.0  # seconds per turn


def contender(kind: str, data: Path) -> None:
    """Train epoch after epoch; print 'start end' (wall clock) of each. Runs in its own process."""
    import torch

    from bench.epoch_speed import lab_cnn, plain_epoch
    from mnistlab.datasets import load_split

    if kind == "worker-t2":
        torch.set_num_threads(2)
    if kind.startswith("worker"):
        run_worker(data)
        return
    train, test = load_split(data, "mnist", train=True), load_split(data, "mnist", train=False)
    state = lab_cnn()
    print("ready", flush=True)
    while True:
        started = time.time()
        plain_epoch(state.model, state.optimizer, train.images, train.labels, test.images, test.labels)
        print(f"{started:.4f} {time.time():.4f}", flush=True)


def run_worker(data: Path) -> None:
    os.environ.update(MNISTLAB_HOME=tempfile.mkdtemp(), MNISTLAB_DATA_DIR=str(data), MNISTLAB_DOWNLOAD="false")
    import workers.worker as worker_module
    from bench.epoch_speed import BATCH
    from mnistlab.settings import Settings
    from service.schemas import JobRequest
    from service.submission import submit_job

    settings = Settings()
    worker = worker_module.Worker(settings)
    with worker.sessions.begin() as session:
        submit_job(session, settings, JobRequest(dataset="mnist", model="cnn", optimizer="adam", epochs=50,
                                                 batch_size=BATCH, seed=0, device="cpu"))
    run_epoch = worker_module.run_epoch

    def timed_epoch(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.time()
        metric = run_epoch(*args, **kwargs)
        print(f"{started:.4f} {time.time():.4f}", flush=True)
        return metric

    record_epoch = worker_module.Worker._record_epoch

    def stamped_record(*args, **kwargs):  # type: ignore[no-untyped-def]
        recorded = record_epoch(*args, **kwargs)
        print(f"row {time.time():.4f}", flush=True)
        return recorded

    worker_module.run_epoch = timed_epoch  # the worker's own epoch, stamped; nothing else changes
    worker_module.Worker._record_epoch = stamped_record  # type: ignore[method-assign]  # and when its row landed
    print("ready", flush=True)
    worker.run(max_jobs=1)


def in_turns(first: str, second: str, data: Path, seconds: float) -> dict[str, list[float]]:
    """Both contenders, one running at a time, turns of SLICE; each one's epochs less its stopped time, and for
    a worker also the time from one epoch's row to the next's (named '<worker> rows')."""
    processes = {name: subprocess.Popen([sys.executable, "-m", "bench.epoch_turns", "--contender", name,
                                         "--data", str(data)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True) for name in (first, second)}
    for process in processes.values():  # both loaded and waiting, so neither's start-up is timed
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    stopped: dict[str, list[tuple[float, float]]] = {first: [], second: []}
    running, waiting = first, second
    os.kill(processes[waiting].pid, signal.SIGSTOP)
    since = began = time.time()
    while time.time() - began < seconds:
        time.sleep(SLICE)
        os.kill(processes[running].pid, signal.SIGSTOP)
        now = time.time()
        stopped[waiting].append((since, now))
        os.kill(processes[waiting].pid, signal.SIGCONT)
        since, (running, waiting) = now, (waiting, running)
    stopped[waiting].append((since, time.time()))
    epochs: dict[str, list[float]] = {}
    for name, process in processes.items():
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        output, _ = process.communicate()
        lines = [line.split() for line in output.splitlines() if line.strip()]
        rows = [float(line[1]) for line in lines if line[0] == "row"]
        spans = [(float(line[0]), float(line[1])) for line in lines if line[0] != "row"]
        running = {name: [(start, end) for start, end in spans if start >= began]}
        if rows:
            running[f"{name} rows"] = [(start, end) for start, end in zip(rows, rows[1:]) if start >= began]
        for label, intervals in running.items():
            epochs[label] = [(end - start) - sum(max(0.0, min(end, b) - max(start, a)) for a, b in stopped[name])
                             for start, end in intervals]
    return epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST/raw (e.g. ../shared/datasets)")
    parser.add_argument("--seconds", type=float, default=150, help="length of each pair's run (half each)")
    parser.add_argument("--pairs", nargs="+", default=["plain:worker", "worker:plain", "plain:worker-t2",
                                                        "worker-t2:plain"],
                        help=f"FIRST:SECOND, each one of {', '.join(CONTENDERS)}")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)  # the child processes
    args = parser.parse_args()
    if args.contender:
        contender(args.contender, args.data)
        return
    from mnistlab.datasets import import_all

    print(describe_machine())
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        import_all(args.data, data)
        for pair in args.pairs:
            first, second = pair.split(":")
            epochs = in_turns(first, second, data, args.seconds)
            medians = {name: statistics.median(values) for name, values in epochs.items()}
            best = {name: min(values) for name, values in epochs.items()}
            for name, values in epochs.items():
                print(f"  {name:<12} epochs {' '.join(f'{value:.2f}' for value in values)}  "
                      f"median {medians[name]:.2f} s, best {best[name]:.2f} s")
            plain = first if first.startswith("plain") else second
            for other in epochs:
                if other != plain:
                    print(f"{pair:<18} {other} vs {plain}: {medians[plain] / medians[other]:.2f}x by medians, "
                          f"{best[plain] / best[other]:.2f}x by best of each", flush=True)


if __name__ == "__main__":
    main()
