"""The notebook in the browser (issue 24): its weight, how fast a finished 100-epoch job's page renders, and
how fast a confusion cell's images answer once the job has been evaluated.

    .venv/bin/python -m bench.notebook --data ../shared/datasets [--rounds 2]

One `mnistlab serve --workers 1` trains a real 100-epoch job (linear, Adam, batches of 6,000, full MNIST).
Then, in headless Chromium, each in a fresh browser context (no cache), alternated A B B A per round:
  A (baseline): the dashboard's job view before this issue: the job's pictures rendered by the server
     (plot.png, confusion.png, misclassified.png), until all three are loaded;
  B: the notebook's job page (#/jobs/ID), until its 300 curve points, the 10x10 matrix and the mistakes'
     images are all shown.
A confusion cell: the job's first evaluation (cold), then GET misclassified?true_label&predicted_label for
its largest cell, with the images (what the page asks), against GET misclassified.png (the old way to see mistakes), alternated, 30 each, p50;
and in the browser, from the click to the frame showing all of the cell's images (timed in the page), p50 of
10 clicks over the three largest cells.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, sync_playwright

from bench.common import describe_machine, mnistlab_server
from tests.helpers.pages import dashboard_files, own_weight

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
JOB = {"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 100, "batch_size": 6000, "seed": 0}


def _old_view(browser: Browser, url: str, job_id: int) -> float:
    context = browser.new_context()
    page = context.new_page()
    started = time.perf_counter()
    page.set_content("".join(f'<img src="{url}/jobs/{job_id}/{name}">'
                             for name in ("plot.png", "confusion.png", "misclassified.png")))
    page.wait_for_function("[...document.images].every((img) => img.complete && img.naturalWidth > 0)")
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def _notebook_view(browser: Browser, url: str, job_id: int, epochs: int) -> float:
    context = browser.new_context()
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/#/jobs/{job_id}")
    page.wait_for_function(f"""document.querySelectorAll('#curves circle.point').length === {3 * epochs}
        && document.querySelectorAll('table.confusion td.cell').length === 100
        && document.querySelectorAll('#mistakes img').length > 0
        && [...document.querySelectorAll('#mistakes img')].every((img) => img.complete && img.naturalWidth > 0)""",
                           polling="raf")
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def _cell_in_browser(browser: Browser, url: str, job_id: int, cells: list[tuple[int, int, int]]) -> list[float]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{url}/#/jobs/{job_id}")
    page.wait_for_selector("table.confusion td.clickable")
    times = []
    for round_ in range(10):
        count, true, predicted = cells[round_ % len(cells)]
        # Timed in the page, from the click to the frame where all the cell's images are decoded and shown.
        times.append(page.evaluate("""async ([count, t, p]) => {
            const started = performance.now();
            document.querySelector(`td.cell[data-true='${t}'][data-predicted='${p}']`).click();
            const shown = () => document.querySelectorAll('#cell-images img').length === count
              && document.querySelector('#cell-title').textContent.startsWith(`${count} `)
              && [...document.querySelectorAll('#cell-images img')].every((img) => img.complete && img.naturalWidth > 0);
            while (!shown()) await new Promise(requestAnimationFrame);
            return (performance.now() - started) / 1000;
        }""", [count, true, predicted]))
    context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(describe_machine())
    with mnistlab_server(workers=1, datasets=args.data) as server, \
            httpx.Client(base_url=server.url, timeout=600) as http:
        files = dashboard_files(http)
        print(f"page weight: the dashboard's own HTML + JS + CSS = {own_weight(files):,} bytes in {len(files)} files "
              f"(limit 300,000; Swagger UI and ReDoc, loaded only by /docs and /redoc, not counted)")
        job_id = http.post("/jobs", json=JOB).json()["id"]
        started = time.perf_counter()
        while http.get(f"/jobs/{job_id}").json()["status"] != "succeeded":
            time.sleep(1)
        print(f"job {job_id}: {JOB['epochs']} epochs trained in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        matrix = http.get(f"/jobs/{job_id}/confusion").json()["matrix"]
        print(f"first evaluation of the job (cold, 10,000 test images): {1000 * (time.perf_counter() - started):.0f} ms")
        cells = sorted(((matrix[t][p], t, p) for t in range(10) for p in range(10) if t != p), reverse=True)[:3]
        count, true, predicted = cells[0]
        cell_path = (f"/jobs/{job_id}/misclassified?true_label={true}&predicted_label={predicted}&limit={count}"
                     "&images=true")
        old_path = f"/jobs/{job_id}/misclassified.png"
        cell_times, old_times = [], []
        for round_ in range(30):
            for path, times in ([(cell_path, cell_times), (old_path, old_times)] if round_ % 2 == 0
                                else [(old_path, old_times), (cell_path, cell_times)]):
                begun = time.perf_counter()
                assert http.get(path).status_code == 200
                times.append(time.perf_counter() - begun)
        cell_p50, old_p50 = statistics.median(cell_times), statistics.median(old_times)
        print(f"a confusion cell's images, warm ({count} images of {true} taken for {predicted}), 30 each, alternated:\n"
              f"  GET misclassified?true_label&predicted_label&images=true  p50 {1000 * cell_p50:.1f} ms\n"
              f"  GET misclassified.png (baseline)                          p50 {1000 * old_p50:.1f} ms  (ratio {cell_p50 / old_p50:.2f})")

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            _notebook_view(browser, server.url, job_id, JOB["epochs"])  # warm: the browser, the lazy imports
            old, new = [], []
            for _ in range(args.rounds):
                old.append(_old_view(browser, server.url, job_id))
                new.append(_notebook_view(browser, server.url, job_id, JOB["epochs"]))
                new.append(_notebook_view(browser, server.url, job_id, JOB["epochs"]))
                old.append(_old_view(browser, server.url, job_id))
            print(f"a finished {JOB['epochs']}-epoch job's page, fresh context each, A B B A x {args.rounds}:\n"
                  f"  old job view (server-rendered plot, confusion, mistakes PNGs)  best {1000 * min(old):.0f} ms  "
                  f"all {[round(1000 * t) for t in old]}\n"
                  f"  notebook #/jobs/ID (curves, matrix, mistakes drawn in page)  best {1000 * min(new):.0f} ms  "
                  f"all {[round(1000 * t) for t in new]}  (ratio {min(new) / min(old):.2f})")
            clicks = _cell_in_browser(browser, server.url, job_id, cells)
            print(f"click a confusion cell -> all its images shown (3 largest cells, 10 clicks): "
                  f"p50 {1000 * statistics.median(clicks):.0f} ms, max {1000 * max(clicks):.0f} ms")
            browser.close()


if __name__ == "__main__":
    main()
