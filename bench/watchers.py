"""Watching is free: a CNN job's epoch time with nobody watching and with 300 followers of its events plus
10 streams of everything, on `mnistlab serve --workers 1` (issue 16).

    .venv/bin/python -m bench.watchers --data ../shared/datasets [--epochs 2] [--compare-with DIR]

Rounds alternate unwatched and watched (A B B A, twice) on one server; then one round with a single follower, for
the database's cost of one watcher. Epoch times are given for every epoch and for the epochs after the
first (the first has all the streams connecting). Once the streams are connected, a probe asks GET /health
and POST /predict (a PNG) every 50 ms: their p50 and p99 are reported. The API processes' database transactions per second come from
their own counter (`mnistlab_api_db_transactions_total` in /metrics), counted once every stream is
connected (connecting costs each stream two reads, once). --compare-with runs the same rounds
against another checkout (e.g. a `git worktree` of the commit before this issue: each follower then polled
the database itself). The followers, the probe and the server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.common import describe_machine, mnistlab_server
from mnistlab.datasets import import_all, load_split

JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "batch_size": 128, "seed": 0}


def _digit_png(data: Path) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        import_all(data, Path(folder))
        image = load_split(Path(folder), "mnist", train=False).images[0, 0].numpy()
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _transactions(client: httpx.AsyncClient) -> float | None:
    text = (await client.get("/metrics")).text
    counts = [float(value) for value in re.findall(r"^mnistlab_api_db_transactions_total\{[^}]*\} (\S+)$", text, re.M)]
    return sum(counts) if counts else None


async def _follow(client: httpx.AsyncClient, path: str, stop: asyncio.Event) -> int:
    """Read one stream until its final status (or until told to stop); the number of events read."""
    events = 0
    try:
        async with client.stream("GET", path) as response:
            if response.status_code != 200:
                return -1
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    events += 1
                    if line == "event: status" and "/jobs/" in path:
                        return events
                if stop.is_set():
                    return events
    except httpx.HTTPError:
        return -1
    return events


async def _probe(client: httpx.AsyncClient, png: bytes, stop: asyncio.Event) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"health": [], "predict": []}
    while not stop.is_set():
        for name in latencies:
            started = time.perf_counter()
            if name == "health":
                response = await client.get("/health")
            else:
                response = await client.post("/predict", files={"file": ("digit.png", png, "image/png")})
            response.raise_for_status()
            latencies[name].append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)
    return latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def one_round(url: str, *, epochs: int, followers: int, everything: int, png: bytes) -> dict[str, float]:
    limits = httpx.Limits(max_connections=followers + everything + 10, max_keepalive_connections=20)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(30, read=600), limits=limits) as client, \
            httpx.AsyncClient(base_url=url, timeout=30) as probe_client:
        stop = asyncio.Event()
        job_id = (await client.post("/jobs", json={**JOB, "epochs": epochs})).json()["id"]
        streams = [asyncio.create_task(_follow(client, f"/jobs/{job_id}/events", stop)) for _ in range(followers)]
        streams += [asyncio.create_task(_follow(client, "/events", stop)) for _ in range(everything)]
        await asyncio.sleep(3.0)  # all connected: from here on, the steady cost of watching
        probe = asyncio.create_task(_probe(probe_client, png, stop))
        before, started = await _transactions(client), time.monotonic()
        while (await probe_client.get(f"/jobs/{job_id}")).json()["status"] in ("queued", "running"):
            await asyncio.sleep(1.0)
        stop.set()
        read = await asyncio.gather(*streams)
        latencies = await probe
        seconds = time.monotonic() - started
        after = await _transactions(client)
        metrics = (await client.get(f"/jobs/{job_id}/metrics")).json()
    assert len(metrics) == epochs, metrics
    complete = sum(1 for count in read[:followers] if count >= epochs + 1)
    return {"epoch_s": statistics.mean(m["seconds"] for m in metrics),
            "steady_s": statistics.mean(m["seconds"] for m in metrics[1:] or metrics), "followers_complete": complete,
            "health_p50": _percentile(latencies["health"], 0.5), "health_p99": _percentile(latencies["health"], 0.99),
            "predict_p50": _percentile(latencies["predict"], 0.5),
            "predict_p99": _percentile(latencies["predict"], 0.99),
            "tx_per_s": float("nan") if before is None or after is None else (after - before) / seconds}


def measure(label: str, data: Path, code: Path | None, args: argparse.Namespace, png: bytes) -> None:
    print(f"\n### {label}\n", flush=True)
    print("| round | watchers | epoch, all (s) | epochs after the first (s) | followers with every epoch | "
          "/health p50 / p99 (ms) | /predict p50 / p99 (ms) | DB transactions/s |")
    print("|---|---|---|---|---|---|---|---|")
    with mnistlab_server(workers=1, datasets=data, code=code) as server:
        asyncio.run(one_round(server.url, epochs=1, followers=0, everything=0, png=png))  # warm-up: data loaded
        watched = ("B", args.followers, args.everything)
        plan = [("A", 0, 0), watched, watched, ("A", 0, 0)] * args.repeats + [("one", 1, 0)]
        best: dict[str, float] = {}
        for name, followers, everything in plan:
            result = asyncio.run(one_round(server.url, epochs=args.epochs, followers=followers, everything=everything,
                                           png=png))
            print(f"| {name} | {followers} + {everything} | {result['epoch_s']:.2f} | {result['steady_s']:.2f} | "
                  f"{result['followers_complete']}/"
                  f"{followers} | {result['health_p50']:.1f} / {result['health_p99']:.1f} | {result['predict_p50']:.1f}"
                  f" / {result['predict_p99']:.1f} | {result['tx_per_s']:.1f} |", flush=True)
            for kind in ("epoch_s", "steady_s"):
                if name in ("A", "B"):
                    best[name + kind] = min(best.get(name + kind, float("inf")), result[kind])
    for kind, what in (("epoch_s", "every epoch (the first has the 310 connections arriving)"),
                       ("steady_s", "epochs after the first")):
        print(f"\nbest, {what}: unwatched {best['A' + kind]:.2f} s, watched {best['B' + kind]:.2f} s: "
              f"watched / unwatched = {best['B' + kind] / best['A' + kind]:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="MNIST in torchvision's layout (.gz is fine)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--followers", type=int, default=300)
    parser.add_argument("--everything", type=int, default=10, help="GET /events streams beside the followers")
    parser.add_argument("--repeats", type=int, default=2, help="A B B A blocks (default 2)")
    parser.add_argument("--compare-with", type=Path, help="another checkout to run the same rounds against")
    args = parser.parse_args()
    args.data = args.data.resolve()
    print(describe_machine())
    png = _digit_png(args.data)
    measure("this checkout", args.data, None, args, png)
    if args.compare_with:
        measure(f"{args.compare_with}", args.data, args.compare_with, args, png)


if __name__ == "__main__":
    main()
