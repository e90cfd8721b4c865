"""Job throughput: jobs per minute of small jobs with 1, 2 and 4 workers, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.job_throughput --data ../shared/datasets [--jobs 40]

For each database and worker count, a real `mnistlab serve --workers N` (fresh MNISTLAB_HOME, fresh
database; PostgreSQL is a throwaway server from Debian's binaries, as in the tests) gets N warm-up jobs
(each worker loads the data set once), then --jobs small jobs posted at once: softmax regression, one
epoch, batch 512, on full MNIST. Jobs/minute is measured from the first POST to the last success. Two
rounds, the databases alternated within each worker count; best of each. The baseline is the same run's
1-worker SQLite figure; ratios are against it.

Durability as deployed: SQLite in WAL mode with synchronous=NORMAL (mnistlab's setting: a commit survives
a process crash; the last commits may be lost to a power cut), PostgreSQL with its defaults (fsync on,
synchronous commits, full-page writes), unless --pg-not-durable.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import describe_machine, free_port, mnistlab_server
from tests.helpers.postgres import PostgresServer, create_database

SMALL_JOB = {"dataset": "mnist", "model": "linear", "optimizer": "sgd", "lr": 0.1, "epochs": 1, "batch_size": 512}


def wait_succeeded(client: httpx.Client, count: int) -> None:
    while True:
        done = client.get("/jobs", params={"status": "succeeded", "limit": 1}).json()["total"]
        failed = client.get("/jobs", params={"status": "failed", "limit": 1}).json()["total"]
        if failed:
            raise RuntimeError(f"{failed} jobs failed")
        if done >= count:
            return
        time.sleep(0.05)


def jobs_per_minute(workers: int, jobs: int, env: dict[str, str]) -> float:
    with mnistlab_server(workers=workers, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for seed in range(workers):  # warm-up: every worker loads the data set before the clock starts
            client.post("/jobs", json={**SMALL_JOB, "seed": seed}).raise_for_status()
        wait_succeeded(client, workers)
        started = time.perf_counter()
        for seed in range(jobs):
            client.post("/jobs", json={**SMALL_JOB, "seed": 1000 + seed}).raise_for_status()
        wait_succeeded(client, workers + jobs)
        return jobs / (time.perf_counter() - started) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with MNIST/raw (torchvision's layout)")
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--pg-not-durable", action="store_true", help="PostgreSQL with fsync and synchronous "
                        "commits off, as the tests run it")
    args = parser.parse_args()
    print(describe_machine())
    postgres = PostgresServer(port=free_port(), durable=not args.pg_not_durable).start()
    print("SQLite: WAL, synchronous=NORMAL; PostgreSQL: "
          + (PostgresServer.NOT_DURABLE if args.pg_not_durable else "defaults (fsync=on, synchronous_commit=on)"))
    try:
        with tempfile.TemporaryDirectory() as data:
            subprocess.run([sys.executable, "-m", "mnistlab.cli", "datasets", "import", str(args.data)], check=True,
                           capture_output=True, env={"MNISTLAB_HOME": data, "MNISTLAB_DATA_DIR": data, "PATH": "/usr/bin:/bin"})
            results: dict[tuple[str, int], float] = {}
            # Two rounds; within each worker count the databases alternate (SQLite, PostgreSQL, then
            # PostgreSQL, SQLite), and the best of each is kept.
            for round_number in range(2):
                for workers in args.workers:
                    order = ("sqlite", "postgresql") if round_number == 0 else ("postgresql", "sqlite")
                    for database in order:
                        env = {"MNISTLAB_DATA_DIR": data}
                        if database == "postgresql":
                            env["MNISTLAB_DATABASE_URL"] = create_database(postgres.admin_url())
                        rate = jobs_per_minute(workers, args.jobs, env)
                        results[(database, workers)] = max(rate, results.get((database, workers), 0.0))
                        print(f"round {round_number + 1} {database:10} {workers} worker(s): {rate:6.1f} jobs/min",
                              flush=True)
    finally:
        postgres.stop()
    baseline = results[("sqlite", args.workers[0])]
    print(f"\n{args.jobs} jobs of {SMALL_JOB}; ratio vs sqlite with {args.workers[0]} worker(s) ({baseline:.1f}/min)")
    print("| workers | SQLite jobs/min | ratio | PostgreSQL jobs/min | ratio | PG / SQLite |")
    print("|---|---|---|---|---|---|")
    for workers in args.workers:
        lite, pg = results[("sqlite", workers)], results[("postgresql", workers)]
        print(f"| {workers} | {lite:.1f} | {lite / baseline:.2f}x | {pg:.1f} | {pg / baseline:.2f}x | {pg / lite:.2f}x |")


if __name__ == "__main__":
    main()
