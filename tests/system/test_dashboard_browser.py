"""The dashboard in a real headless Chromium against a real `mnistlab serve` with a worker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.helpers.proxy import CuttableProxy
from tests.helpers.servers import LiveServer, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.datasets]

CHROMIUM = "/usr/bin/chromium"  # Debian's; scripts/test installs it (Playwright's own download is not used)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture
def page(live_server: LiveServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(live_server.url + "/")
        yield page
        browser.close()


def test_start_a_job_from_the_form_and_see_it_finish(page) -> None:  # type: ignore[no-untyped-def]
    page.select_option("select[name=model]", "linear")
    page.fill("input[name=epochs]", "2")
    page.fill("input[name=batch_size]", "200")
    page.fill("input[name=seed]", "1")
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("queued")
    row = page.locator("tr.job").first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    row.locator("td").nth(1).click()
    expect(page.locator("#figure")).to_have_attribute("src", re.compile(r"/jobs/\d+/plot\.png"))


def test_the_dashboard_follows_one_event_stream_and_reconnects_after_a_drop(live_server: LiveServer) -> None:
    """No polling timer: each (re)connection of GET /events reads GET /jobs once, then only events arrive."""
    proxy = CuttableProxy(int(live_server.url.rsplit(":", 1)[1]))  # sees every request the page makes

    def requests() -> list[str]:
        return [chunk.split(b" ", 2)[1].decode() for chunk in proxy.sent if chunk.startswith(b"GET ")]

    job = {"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 2, "batch_size": 200}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(proxy.url + "/")
            wait_for(lambda: "/jobs?limit=50" in requests(), timeout=30, what="the dashboard's first read")
            first = live_server.http.post("/jobs", json={**job, "seed": 1}).json()["id"]
            row = page.locator(f"tr.job[data-id='{first}']")
            expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)  # created, then events
            proxy.cut()  # the stream drops; the page must reconnect by itself
            wait_for(lambda: requests().count("/events") == 2, timeout=30, what="the dashboard to reconnect")
            second = live_server.http.post("/jobs", json={**job, "seed": 2}).json()["id"]
            expect(page.locator(f"tr.job[data-id='{second}']")).to_have_attribute("data-status", "succeeded",
                                                                                   timeout=120_000)
            reads = [url for url in requests() if url.startswith(("/jobs", "/sweeps"))]
            assert sorted(reads) == ["/jobs?limit=50", "/jobs?limit=50", "/sweeps", "/sweeps"]  # one per connection
            browser.close()
    finally:
        proxy.close()


def test_start_a_sweep_and_watch_its_leaderboard_fill(page) -> None:  # type: ignore[no-untyped-def]
    page.fill("#sweep-body", '{"name": "sgd vs adam", "base": {"dataset": "mnist", "model": "linear", "epochs": 2, '
                             '"batch_size": 200, "seed": 0}, "grid": {"optimizer": ["sgd", "adam"]}}')
    page.click("#sweep-form button[type=submit]")
    expect(page.locator("#sweep-message")).to_contain_text("started: 2 trials")
    expect(page.locator("tr.sweep").first).to_have_attribute("data-status", "finished", timeout=120_000)
    trials = page.locator("#leaderboard tr.trial")
    expect(trials).to_have_count(2)
    for index in range(2):
        expect(trials.nth(index)).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#leaderboard")).to_contain_text("optimizer=adam")
    expect(page.locator("#figure")).to_have_attribute("src", re.compile(r"/sweeps/\d+/plot\.png"))
    page.fill("#sweep-body", '{"name": "bad", "base": {}, "grid": {"optimiser": ["sgd"]}}')
    page.click("#sweep-form button[type=submit]")
    expect(page.locator("#sweep-message")).to_contain_text("'optimiser' is not a job field")


def test_draw_a_digit_and_read_the_prediction(page) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#pad").bounding_box()
    assert box is not None
    # A "1": one vertical stroke down the middle of the pad.
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box["x"] + 140, box["y"] + 40 + step * 10)
    page.mouse.up()
    page.click("#predict-drawing")
    expect(page.locator("#predicted-class")).to_have_text("1", timeout=30_000)
    expect(page.locator("#seen")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))


def test_the_form_offers_what_the_spec_allows_and_sends_each_optimizers_knobs(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    spec = live_server.http.get("/spec").json()
    options = page.locator("select[name=optimizer] option")
    expect(options).to_have_count(len(spec["optimizers"]))
    assert options.all_inner_texts() == [o["name"] for o in spec["optimizers"]]
    assert page.locator("select[name=model] option").all_inner_texts() == [m["name"] for m in spec["models"]]
    page.select_option("select[name=optimizer]", "adamw")
    expect(page.locator("input[name=weight_decay]")).to_have_attribute("placeholder", "0.01")
    expect(page.locator("input[name=momentum]")).to_have_count(0)
    page.select_option("select[name=optimizer]", "sgd")
    expect(page.locator("input[name=weight_decay]")).to_have_count(0)
    page.select_option("select[name=model]", "linear")
    page.fill("input[name=momentum]", "0.9")
    page.check("input[name=nesterov]")
    page.fill("input[name=epochs]", "1")
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("queued")
    job = live_server.http.get("/jobs?limit=1").json()["jobs"][0]
    assert (job["optimizer"], job["momentum"], job["nesterov"], job["lr"]) == ("sgd", 0.9, True, 0.005)
    page.uncheck("input[name=nesterov]")
    page.fill("input[name=momentum]", "")
    page.check("input[name=nesterov]")  # nesterov without momentum: the server's 422 is shown, naming the rule
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("nesterov needs momentum > 0")
