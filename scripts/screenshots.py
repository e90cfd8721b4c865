#!/usr/bin/env python3
"""Remake docs/compare-sgd-adam.png and docs/dashboard.png from a real server and real jobs.

    .venv/bin/python scripts/screenshots.py --datasets ../shared/datasets

Starts `mnistlab serve --workers 1` in a temp MNISTLAB_HOME, trains the lab's SGD-against-Adam pair
(the CNN on MNIST, same seed, so the same initial weights), saves the comparison figure, and takes a
screenshot of the dashboard in Debian's headless Chromium.
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
            httpx.post(f"{url}/jobs", json={**PAIR[1], "epochs": 30, "seed": 1})  # a running job for the table
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(url)
                box = page.locator("#pad").bounding_box()
                page.mouse.move(box["x"] + 60, box["y"] + 60)
                page.mouse.down()
                for x, y in [(220, 60), (130, 240)]:
                    page.mouse.move(box["x"] + x, box["y"] + y, steps=15)
                page.mouse.up()
                page.click("#predict-drawing")
                page.wait_for_selector("#predicted-class")
                for i in ids:
                    page.check(f".pick[value='{i}']")
                page.click("#compare")
                page.wait_for_timeout(3000)
                page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
