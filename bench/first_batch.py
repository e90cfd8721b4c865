"""Time from POST /jobs to the job's first training batch, with an idle worker and the data set on disk.

    .venv/bin/python -m bench.first_batch --data ../shared/datasets [--jobs 3]

Starts a real `mnistlab serve --workers 1` in a temp MNISTLAB_HOME and reads the worker's own
"first batch X s after submission" log line for each job. Target: under 2 s. The baseline printed
beside it is the idle worker's poll interval, the least any submission can wait.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import httpx

from bench.common import describe_machine, mnistlab_server
from mnistlab.settings import Settings

LINE = re.compile(r"first batch ([0-9.]+)s after submission \[job_id=(\d+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=3)
    args = parser.parse_args()
    print(describe_machine())
    with mnistlab_server(workers=1, datasets=args.data) as server:
        waits = []
        for index in range(args.jobs):
            job = httpx.post(f"{server.url}/jobs", json={"dataset": "mnist", "model": "cnn", "optimizer": "adam",
                                                          "epochs": 1, "seed": index}).json()
            while httpx.get(f"{server.url}/jobs/{job['id']}").json()["status"] in ("queued", "running"):
                time.sleep(0.2)
            found = {int(m[2]): float(m[1]) for m in LINE.finditer(server.log.read_text())}
            waits.append(found[job["id"]])
            print(f"job {job['id']} ({'cold: data set loaded from disk' if index == 0 else 'warm'}): "
                  f"first batch {found[job['id']]:.2f} s after submission")
    poll = Settings().poll_interval
    print(f"cold {waits[0]:.2f} s, warm best {min(waits[1:] or waits):.2f} s (target < 2 s); "
          f"poll interval {poll:.2f} s = {min(waits) / poll:.1f}x of it")


if __name__ == "__main__":
    main()
