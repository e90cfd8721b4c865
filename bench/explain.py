"""The drawing board's requests (issue 25): one drawing's prediction and one drawing's explanation, request to
answer, on loopback.

    .venv/bin/python -m bench.explain --data ../shared/datasets [--requests 200]

One `mnistlab serve --workers 1` (two API processes' worth of cores shared with this client) trains the
lab's CNN for one epoch, then this client sends the board's own request body (a 280x280 PNG of a drawn 7,
as the canvas makes it), one request at a time, alternating in rounds A B B A:
  POST /predict                                   the shipped model (the board's plain prediction)
  POST /explain?job_id=<the lab CNN>              Integrated Gradients (128 steps), Grad-CAM, feature maps
  POST /explain                                   the same for the shipped convnet (for scale)
p50 and p90 of each; /predict is the baseline the explanations are compared with.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from bench.common import describe_machine, mnistlab_server

LAB_CNN = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 1, "batch_size": 128, "seed": 0}


def drawn_seven() -> bytes:
    """What the board sends: black ink, 18 px wide, on a white 280x280 canvas."""
    canvas = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(canvas).line([(70, 60), (220, 60), (120, 240)], fill="black", width=18, joint="curve")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--requests", type=int, default=200, help="per kind of request (default 200)")
    args = parser.parse_args()
    print(describe_machine())
    image = drawn_seven()
    with mnistlab_server(workers=1, datasets=args.data) as server, \
            httpx.Client(base_url=server.url, timeout=120) as http:
        job_id = http.post("/jobs", json=LAB_CNN).json()["id"]
        while (job := http.get(f"/jobs/{job_id}").json())["status"] != "succeeded":
            time.sleep(1)
        print(f"the lab's CNN: job {job_id}, 1 epoch, test accuracy {job['best']['test_accuracy']:.4f}")
        kinds = {"POST /predict (shipped convnet), baseline": "/predict",
                 f"POST /explain?job_id={job_id} (the lab's CNN)": f"/explain?job_id={job_id}",
                 "POST /explain (shipped convnet)": "/explain"}
        files = {"file": ("drawing.png", image, "image/png")}
        for path in kinds.values():  # warm: each model loaded, each route's first call made
            assert http.post(path, files=files).status_code == 200
        times: dict[str, list[float]] = {name: [] for name in kinds}
        order = list(kinds.items())
        for round_ in range(args.requests // 2):
            for name, path in (order if round_ % 2 == 0 else order[::-1]):
                for _ in range(2):
                    started = time.perf_counter()
                    response = http.post(path, files=files)
                    times[name].append(time.perf_counter() - started)
                    assert response.status_code == 200, response.text
        labels = {name: (http.post(path, files=files).json().get("predictions") or
                         http.post(path, files=files).json()["explanations"])[0]["label"] for name, path in kinds.items()}
        baseline = statistics.median(next(iter(times.values())))
        print(f"one drawing, request to answer, {args.requests} each, alternated A B C C B A, one at a time:")
        for name, measured in times.items():
            p50 = statistics.median(measured)
            p90 = statistics.quantiles(measured, n=10)[-1]
            print(f"  {name:48s} p50 {1000 * p50:6.1f} ms  p90 {1000 * p90:6.1f} ms  "
                  f"({p50 / baseline:.1f}x the prediction; label {labels[name]})")


if __name__ == "__main__":
    main()
