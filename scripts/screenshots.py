#!/usr/bin/env python3
"""Remake docs/compare-sgd-adam.png and the notebook's screenshots (docs/screenshots/*.png) from a real
server and real jobs.

    .venv/bin/python scripts/screenshots.py --datasets ../shared/datasets

Starts `mnistlab serve --workers 1` in a temp MNISTLAB_HOME, trains the lab's SGD-against-Adam pair (the
CNN on MNIST, same seed, so the same initial weights) and a small sweep, saves the comparison figure, and
photographs each view of the dashboard in Debian's headless Chromium (a job still running in the jobs
view, a confusion cell opened on the job's page, a 7 drawn on the board for the shipped model and the lab's
CNN side by side).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"
SHOTS = DOCS / "screenshots"
SWEEP = {"name": "SGD against Adam, two models", "base": {"dataset": "mnist", "epochs": 3, "batch_size": 128, "seed": 0},
         "grid": {"optimizer": ["sgd", "adam"], "model": ["linear", "ffnn"]}}
PAIR = [{"dataset": "mnist", "model": "cnn", "optimizer": optimizer, "epochs": 5, "batch_size": 128, "seed": 0}
        for optimizer in ("sgd", "adam")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {**os.environ, "MNISTLAB_HOME": home, "MNISTLAB_DOWNLOAD": "false"}
        subprocess.run([sys.executable, "-m", "mnistlab.cli", "datasets", "import", str(args.datasets)], env=env,
                       check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "mnistlab.cli", "serve", "--port", str(port)], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            ids = [httpx.post(f"{url}/jobs", json=job).json()["id"] for job in PAIR]
            while any(httpx.get(f"{url}/jobs/{i}").json()["status"] in ("queued", "running") for i in ids):
                time.sleep(2)
            query = ",".join(map(str, ids))
            (DOCS / "compare-sgd-adam.png").write_bytes(httpx.get(f"{url}/compare.png?jobs={query}").content)
            sweep = httpx.post(f"{url}/sweeps", json=SWEEP).json()["id"]
            while httpx.get(f"{url}/sweeps/{sweep}").json()["status"] == "running":
                time.sleep(2)
            httpx.post(f"{url}/jobs", json={**PAIR[1], "epochs": 30, "seed": 1})  # a running job for the table
            _photograph(url, ids)
        finally:
            server.terminate()
            server.wait(timeout=60)


def _photograph(url: str, ids: list[int]) -> None:
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def shot(name: str, address: str, ready: str) -> None:
            page.goto(f"{url}/{address}")
            page.wait_for_selector(ready)
            page.wait_for_timeout(800)  # the images of the view
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

        shot("jobs", "#/jobs", "tr.job[data-status=running]")
        page.goto(f"{url}/#/jobs/{ids[1]}")
        page.wait_for_selector("table.confusion td.clickable")
        page.locator("table.confusion td.clickable").first.click()
        page.wait_for_selector("#cell-images img")
        page.wait_for_timeout(800)
        page.screenshot(path=str(SHOTS / "job.png"), full_page=True)
        shot("compare", f"#/compare/{','.join(map(str, ids))}", "#curves circle.point")
        shot("sweep", "#/sweeps/1", "#by-setting circle.point")
        shot("models", "#/models", "#defaults tr")
        shot("data", "#/data/fashion-mnist?label=0", "#samples img")
        shot("architectures", "#/architectures", "section.architecture")
        page.goto(f"{url}/#/draw?a=dataset=mnist&b=job_id={ids[1]}")  # the shipped convnet beside the lab's CNN
        box = page.locator("#pad").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 70, box["y"] + 60)
        page.mouse.down()
        for x, y in [(220, 60), (120, 240)]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=15)
        page.mouse.up()
        page.wait_for_selector("#panel-a[data-label] .feature-maps img")
        page.wait_for_selector("#panel-b[data-label] .feature-maps img")
        page.wait_for_timeout(1500)  # the answers to the finished drawing
        page.screenshot(path=str(SHOTS / "draw.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
