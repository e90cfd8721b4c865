"""Reads beside writes: GET /jobs and /predict while a CNN job trains, this code against an earlier checkout.

    git worktree add /tmp/before <commit>            # the code to compare with
    .venv/bin/python -m bench.read_concurrency --before /tmp/before --datasets ../shared/datasets

Each round starts `mnistlab serve --workers 1` on the full MNIST, queues a CNN job (batch 64, so the
worker writes a heartbeat every 2 s and a metrics row every epoch), waits until it trains, then drives
the API for --seconds with two `wrk` processes at once (one thread each, as the load generators share
the two cores with the server and the worker): GET /jobs with 4 connections and POST /predict (a 28x28
PNG) with 8. Rounds alternate before, after, after, before; the best of each is reported.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import describe_machine, mnistlab_server
from bench.predict_load import predict_script, wrk

JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 50, "batch_size": 64, "seed": 0}


def one_round(code: Path | None, datasets: Path, seconds: int, script: Path) -> tuple[dict[str, dict[str, float]], str]:
    with mnistlab_server(workers=1, datasets=datasets, code=code) as server:
        job_id = httpx.post(f"{server.url}/jobs", json=JOB).json()["id"]
        while httpx.get(f"{server.url}/jobs/{job_id}").json()["progress"]["fraction"] <= 0:
            time.sleep(0.2)  # training for real: data loaded, batches running
        with ThreadPoolExecutor(2) as pool:
            reads = pool.submit(wrk, f"{server.url}/jobs", connections=4, seconds=seconds, script=None)
            predicts = pool.submit(wrk, f"{server.url}/predict", connections=8, seconds=seconds, script=script)
            figures = {"GET /jobs": reads.result(), "POST /predict": predicts.result()}
        started = time.perf_counter()
        try:
            job = httpx.get(f"{server.url}/jobs/{job_id}", timeout=120).json()
            state = f"job {job['status']} (attempt {job['attempts']}), answered in {time.perf_counter() - started:.1f}s"
        except httpx.TimeoutException:
            state = "GET /jobs/{id} unanswered after 120 s"
        log = server.log.read_text()
        health = (f"{state}; 'database is locked' {log.count('database is locked')}x in the log; "
                  f"worker gave its job up: {'giving the job up' in log}")
        return figures, health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code to compare with")
    parser.add_argument("--datasets", type=Path, required=True, help="folder with MNIST/raw (torchvision layout)")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    commit = subprocess.run(["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(describe_machine())
    print(f"before: {args.before} ({commit or 'not a git checkout'}); after: this checkout")
    best: dict[str, dict[str, dict[str, float]]] = {"before": {}, "after": {}}
    with tempfile.TemporaryDirectory() as folder:
        script = predict_script(Path(folder))
        for name in ("before", "after", "after", "before"):
            result, health = one_round(args.before if name == "before" else None, args.datasets, args.seconds,
                                       script)
            print(f"{name:<7}" + " | ".join(f"{route}: {r['rps']:,.0f}/s p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms"
                                            for route, r in result.items()) + f" | {health}", flush=True)
            for route, figures in result.items():
                kept = best[name].get(route)
                if kept is None or figures["rps"] > kept["rps"]:
                    best[name][route] = figures
    print("best of each (ratio after/before):")
    for route in ("GET /jobs", "POST /predict"):
        before, after = best["before"][route], best["after"][route]
        print(f"  {route:<14} requests/s {before['rps']:>8,.0f} -> {after['rps']:>8,.0f} ({after['rps'] / before['rps']:.2f}x)"
              f" | p99 {before['p99']:>7.2f} -> {after['p99']:>7.2f} ms ({after['p99'] / before['p99']:.2f}x)")


if __name__ == "__main__":
    main()
