"""What `mnistlab serve --workers 1` holds in memory: each process's proportional set size after a prediction.

    .venv/bin/python -m bench.memory [--api-workers 2] [--runtime auto]

PSS (`Pss` of /proc/PID/smaps_rollup) splits pages shared between processes (the interpreter, torch's
libraries mapped by several) among them, so the figures add up to what the whole service costs. The
service starts in a temp home with no data set; one `/predict` and one protocol infer per API process
load the shipped models (and, with onnxruntime, their exports) before the reading. Issue 23's aim: under
1.2 GB in all (before: supervisor 378 MB, each API process about 540 MB, the worker 494 MB).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.common import describe_machine, mnistlab_server


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss for {pid}")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()


def describe(pid: int) -> str:
    line = command(pid)
    if " worker " in f"{line} ":
        return "training worker"
    if "resource_tracker" in line:
        return "resource tracker"
    if "multiprocessing" in line:
        return "API process"
    return "supervisor" if "serve" in line else line[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-workers", type=int, default=None)
    parser.add_argument("--runtime", default="auto", choices=["auto", "onnxruntime", "torch"])
    args = parser.parse_args()
    print(describe_machine())
    serve_args = ["--api-workers", str(args.api_workers)] if args.api_workers else []
    image = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(image, format="PNG")
    tensor = json.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28],
                                     "data": [0.0] * 784}]})
    with mnistlab_server(workers=1, env={"MNISTLAB_RUNTIME": args.runtime}, serve_args=serve_args) as server:
        # Enough requests that every API process (the kernel spreads connections) has served both routes.
        for _ in range(20):
            with httpx.Client() as client:  # a new connection each time
                assert client.post(f"{server.url}/predict", content=image.getvalue(),
                                   headers={"Content-Type": "image/png"}).status_code == 200
                assert client.post(f"{server.url}/v2/models/fashion-mnist/infer", content=tensor).status_code == 200
        platform = httpx.get(f"{server.url}/v2/models/mnist").json()["platform"]
        tree = [server.process.pid]
        for pid in tree:
            tree += children(pid)
        total = 0.0
        print(f"MNISTLAB_RUNTIME={args.runtime} (serving platform: {platform})")
        for pid in tree:
            if "python" not in command(pid):
                continue
            size = pss_mb(pid)
            total += size
            print(f"  {describe(pid):<16} pid {pid:<7} PSS {size:7.0f} MB")
        print(f"  {'all':<28} PSS {total:7.0f} MB")


if __name__ == "__main__":
    main()
