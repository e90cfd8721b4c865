"""Signing in to the dashboard in a real Chromium where the server requires a key (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.helpers.servers import Processes, make_settings, start_server
from tests.system.test_dashboard_browser import CHROMIUM, EXPECT_TIMEOUT_MS, FLAGS

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.datasets]
KEY = "browser-sign-in-key"


def test_sign_in_use_the_dashboard_live_sign_out_and_open_the_docs(processes: Processes, tmp_path: Path,
                                                                    small_data_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", small_data_dir, api_key=KEY)
    server = start_server(processes, settings)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server.url + "/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.fill("#key", "not-the-key")
        page.click("#signin button[type=submit]")
        expect(page.locator("#message")).to_have_text("wrong API key", timeout=10_000)

        page.fill("#key", KEY)
        page.click("#signin button[type=submit]")
        expect(page.locator("#job-form")).to_be_visible(timeout=10_000)  # the dashboard
        cookie = next(c for c in page.context.cookies() if c["name"] == "mnistlab_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        page.select_option("select[name=model]", "cnn")
        page.fill("input[name=epochs]", "3")
        page.fill("input[name=seed]", "4")
        page.click("#job-form button[type=submit]")
        expect(page.locator("#form-message")).to_contain_text("queued")
        row = page.locator("tr.job").first
        expect(row).to_have_attribute("data-status", "running", timeout=60_000)  # live, over GET /events
        expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
        expect(row.locator("td").nth(8)).not_to_have_text("")  # its test accuracy arrived with an epoch event

        with page.expect_navigation():  # signing out reloads the page
            page.click("#sign-out")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.locator("#job-form")).to_have_count(0)
        assert not [c for c in page.context.cookies() if c["name"] == "mnistlab_session"]

        page.fill("#key", KEY)
        page.click("#signin button[type=submit]")
        expect(page.locator("#job-form")).to_be_visible(timeout=10_000)
        docs = page.goto(server.url + "/docs")
        assert docs is not None and docs.status == 200
        # Swagger UI's files come from the service behind the same key: signed in by cookie, they load.
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)
        assert page.evaluate("fetch('/openapi.json').then((r) => r.status)") == 200
        assert page.evaluate("fetch('/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'}, "
                             "body: JSON.stringify({dataset: 'mnist', model: 'linear', optimizer: 'sgd', epochs: 1})})"
                             ".then((r) => r.status)") == 201
        browser.close()
