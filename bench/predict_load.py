"""/predict latency and throughput over HTTP against GET /health, measured with wrk in one run.

    .venv/bin/python -m bench.predict_load [--seconds 10] [--before CHECKOUT]

Starts `mnistlab serve --workers 0` (API only) in a temp MNISTLAB_HOME and drives it with Debian's `wrk`
(one thread, so that the load generator leaves the server most of the CPU). At concurrency 1 the health
check (the baseline) and /predict alternate, health, predict, predict, health, best p50 of each. Targets on 2 cores: p50 under
2 ms and under 2.5x the health check's p50; at concurrency 32, at least 1,500 images/s.

With --before (another checkout, e.g. `git worktree add /tmp/before HEAD~1`), it compares instead: rounds
alternate before, after, after, before, each measuring concurrency 1 and 32, and the best of each is
reported with the ratio after/before.
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.common import describe_machine, mnistlab_server

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * UNITS[unit]


def wrk(url: str, *, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{errors[1]} failed requests:\n{output}")
    return {"p50": _ms(latency["50"]), "p99": _ms(latency["99"]),
            "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", output)[1])}  # type: ignore[index]


def predict_script(folder: Path) -> Path:
    """A wrk script posting one 28x28 PNG in data-set form (a "1")."""
    image = folder / "digit.png"
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(digit).save(buffer, format="PNG")
    image.write_bytes(buffer.getvalue())
    script = folder / "predict.lua"
    script.write_text(f'wrk.method = "POST"\nlocal f = io.open("{image}", "rb")\nwrk.body = f:read("*all")\n'
                      f'f:close()\nwrk.headers["Content-Type"] = "image/png"\n')
    return script


def compare(before: Path, seconds: int, script: Path) -> None:
    best: dict[tuple[str, int], dict[str, float]] = {}
    for name in ("before", "after", "after", "before"):
        with mnistlab_server(workers=0, code=before if name == "before" else None) as server:
            httpx.post(f"{server.url}/predict", content=script.with_name("digit.png").read_bytes(),
                       headers={"Content-Type": "image/png"})  # warm-up: the model loads once
            for connections in (1, 32):
                result = wrk(f"{server.url}/predict", connections=connections, seconds=seconds, script=script)
                print(f"{name:<7} concurrency {connections:>2}: {result['rps']:,.0f} images/s, "
                      f"p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms", flush=True)
                kept = best.get((name, connections))
                if kept is None or result["rps"] > kept["rps"]:
                    best[(name, connections)] = result
    print("best of each (after/before):")
    for connections in (1, 32):
        b, a = best[("before", connections)], best[("after", connections)]
        print(f"  concurrency {connections:>2}: {b['rps']:,.0f} -> {a['rps']:,.0f} images/s ({a['rps'] / b['rps']:.2f}x), "
              f"p50 {b['p50']:.2f} -> {a['p50']:.2f} ms ({a['p50'] / b['p50']:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--before", type=Path, help="another checkout to compare with (alternated rounds)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    print(describe_machine())
    with tempfile.TemporaryDirectory() as home:
        script = predict_script(Path(home))
        image = script.with_name("digit.png")
        if args.before is not None:
            compare(args.before, args.seconds, script)
            return
        with mnistlab_server(workers=0) as server:
            base = server.url
            label = httpx.post(f"{base}/predict", content=image.read_bytes(),
                               headers={"Content-Type": "image/png"}).json()["predictions"][0]["label"]
            print(f"warm-up prediction: {label}")
            # The baseline and the subject alternate (health, predict, predict, health); best of each.
            runs = [("health", wrk(f"{base}/health", connections=1, seconds=args.seconds, script=None))]
            runs += [("predict", wrk(f"{base}/predict", connections=1, seconds=args.seconds, script=script))
                     for _ in range(2)]
            runs.append(("health", wrk(f"{base}/health", connections=1, seconds=args.seconds, script=None)))
            health = min((r for name, r in runs if name == "health"), key=lambda r: r["p50"])
            single = min((r for name, r in runs if name == "predict"), key=lambda r: r["p50"])
            print(f"concurrency 1: /health p50 {health['p50']:.2f} ms p99 {health['p99']:.2f} ms | "
                  f"/predict p50 {single['p50']:.2f} ms p99 {single['p99']:.2f} ms "
                  f"= {single['p50'] / health['p50']:.2f}x health (targets: < 2 ms, < 2.5x)")
            for connections in (1, 8, 32):
                result = single if connections == 1 else wrk(f"{base}/predict", connections=connections,
                                                             seconds=args.seconds, script=script)
                print(f"concurrency {connections:>2}: {result['rps']:,.0f} images/s, p50 {result['p50']:.2f} ms, "
                      f"p99 {result['p99']:.2f} ms")


if __name__ == "__main__":
    main()
