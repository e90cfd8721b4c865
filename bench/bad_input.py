"""How fast hostile /predict bodies are turned away, against a good prediction in the same run.

    .venv/bin/python -m bench.bad_input [--count 1000]

Sends the generated bodies of tests/badinput.py (random bytes, truncated and mutated PNG/JPEG,
polyglots, a 20000x20000 PNG bomb, huge dimensions in a tiny file, wrong content types, many parts, a
100 MB chunked body) to a real `mnistlab serve --workers 0`. Target: each answered in under 1 s, and
the server's memory bounded.
"""

from __future__ import annotations

import argparse
import io
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.common import describe_machine, mnistlab_server
from tests.helpers.badinput import bad_requests


def rss_mb(pid: int) -> float:
    line = next(row for row in Path(f"/proc/{pid}/status").read_text().splitlines() if row.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    print(describe_machine())
    with mnistlab_server(workers=0) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        digit = np.zeros((28, 28), dtype=np.uint8)
        digit[4:24, 12:16] = 255
        buffer = io.BytesIO()
        Image.fromarray(digit).save(buffer, format="PNG")
        good = []
        for _ in range(200):
            started = time.perf_counter()
            http.post("/predict", content=buffer.getvalue(), headers={"Content-Type": "image/png"})
            good.append(time.perf_counter() - started)
        before = rss_mb(server.process.pid)
        times: dict[str, list[float]] = defaultdict(list)
        for bad in bad_requests(args.count):
            started = time.perf_counter()
            try:
                http.post("/predict", content=bad.content, headers=bad.headers)
            except httpx.TransportError:  # refused (413) and closed while we were still sending
                pass
            times[bad.kind].append(time.perf_counter() - started)
        after = rss_mb(server.process.pid)
    baseline = float(np.median(good)) * 1000
    print(f"good 28x28 PNG: median {baseline:.2f} ms (baseline)")
    print(f"{'kind':<28}{'n':>5}{'median ms':>11}{'max ms':>9}{'max / baseline':>16}")
    for kind, values in times.items():
        worst = max(values) * 1000
        print(f"{kind:<28}{len(values):>5}{np.median(values) * 1000:>11.2f}{worst:>9.1f}{worst / baseline:>15.1f}x")
    slowest = max(max(v) for v in times.values())
    print(f"slowest of {sum(map(len, times.values()))}: {slowest * 1000:.0f} ms (target < 1000 ms); "
          f"server RSS {before:.0f} MB -> {after:.0f} MB")


if __name__ == "__main__":
    main()
