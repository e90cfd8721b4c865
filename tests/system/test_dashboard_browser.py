"""The dashboard (the lab's notebook) in a real headless Chromium against one real `mnistlab serve` with a
worker, shared by this module's tests, with real jobs trained on the small data sets."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.helpers.epoch_gate import EpochGate
from tests.helpers.postgres import create_database
from tests.helpers.proxy import CuttableProxy
from tests.helpers.servers import LiveServer, module_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.datasets, pytest.mark.postgres]

CHROMIUM = "/usr/bin/chromium"  # Debian's; scripts/test installs it (Playwright's own download is not used)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]
# How long an expectation waits for the page (Playwright's default is 5 s): the server's worker may be training
# on both cores meanwhile (two pytest processes made two of these waits miss 5 s). A wait, not a claim about speed.
EXPECT_TIMEOUT_MS = 30_000
JOB = {"dataset": "mnist", "model": "linear", "epochs": 2, "batch_size": 200, "seed": 1}


@pytest.fixture(scope="module")
def database_url(postgres_admin_url: str, migrated_postgres: str) -> str:
    """PostgreSQL, whose lock queue lets a test hold a job between its epochs (tests/helpers/epoch_gate.py);
    the sign-in browser test runs the dashboard on SQLite."""
    return create_database(postgres_admin_url, copy_of=migrated_postgres)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path, database_url: str) -> Iterator[LiveServer]:
    # A long heartbeat timeout: a worker held at the epoch gate cannot beat meanwhile.
    with module_server(tmp_path_factory.mktemp("notebook") / "home", small_data_dir, database_url=database_url,
                       heartbeat_timeout=60) as (server, _):
        yield server


def _finished(server: LiveServer, body: dict) -> dict:
    job_id = server.http.post("/jobs", json=body).json()["id"]
    return wait_for(lambda: (job := server.http.get(f"/jobs/{job_id}").json())["status"] == "succeeded" and job,
                    timeout=180, what=f"job {job_id} to succeed")


@pytest.fixture(scope="module")
def trained(server: LiveServer) -> list[dict]:
    """Two finished jobs that differ only in optimizer and learning rate."""
    return [_finished(server, {**JOB, "optimizer": "sgd", "lr": 0.1}),
            _finished(server, {**JOB, "optimizer": "adam", "lr": 0.002})]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, base_url=server.url)
    tab = context.new_page()
    tab.goto("/")
    yield tab
    context.close()


def test_start_a_job_from_the_form_and_see_it_finish(page: Page) -> None:
    page.select_option("select[name=model]", "linear")
    page.fill("input[name=epochs]", "2")
    page.fill("input[name=batch_size]", "200")
    page.fill("input[name=seed]", "1")
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("queued")
    row = page.locator("tr.job").first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    job_id = row.get_attribute("data-id")
    row.locator("td").nth(2).click()  # a row opens its job's page
    expect(page).to_have_url(re.compile(rf"#/jobs/{job_id}$"))
    expect(page.locator("#status")).to_have_attribute("data-status", "succeeded")


def test_the_form_submits_a_one_cycle_job_with_early_stopping_and_shows_a_422_at_its_field(
        page: Page, server: LiveServer) -> None:
    page.select_option("select[name=model]", "linear")
    page.select_option("select[name=lr_schedule]", "onecycle")
    page.check("input[name='early_stopping.enabled']")
    page.fill("input[name='early_stopping.patience']", "2")
    page.fill("input[name='early_stopping.target_test_accuracy']", "0.99")
    page.fill("input[name=epochs]", "1")
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("queued")
    job = server.http.get("/jobs?limit=1").json()["jobs"][0]
    assert job["lr_schedule"] == "onecycle"
    assert job["early_stopping"] == {"patience": 2, "min_delta": 0.0, "target_test_accuracy": 0.99}
    page.fill("input[name=label_smoothing]", "0.9")  # above the spec's 0.5: the server's 422, at the field
    page.click("#job-form button[type=submit]")
    expect(page.locator(".field-error[data-field=label_smoothing]")).to_contain_text("less than or equal to 0.5")
    expect(page.locator("#form-message")).to_have_class("error")


def test_the_form_offers_what_the_spec_allows_and_sends_each_optimizers_knobs(page: Page, server: LiveServer) -> None:
    spec = server.http.get("/spec").json()
    options = page.locator("select[name=optimizer] option")
    expect(options).to_have_count(len(spec["optimizers"]))
    assert options.all_inner_texts() == [o["name"] for o in spec["optimizers"]]
    assert page.locator("select[name=model] option").all_inner_texts() == [m["name"] for m in spec["models"]]
    assert page.locator("select[name=lr_schedule] option").all_inner_texts() == spec["lr_schedules"]
    for field in [*spec["fields"], *(f"early_stopping.{name}" for name in spec["early_stopping"]),
                  *(f"augmentation.{name}" for name in spec["augmentation"]["fields"])]:
        expect(page.locator(f"input[name='{field}']")).to_have_count(1)
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
    job = server.http.get("/jobs?limit=1").json()["jobs"][0]
    assert (job["optimizer"], job["momentum"], job["nesterov"], job["lr"]) == ("sgd", 0.9, True, 0.005)
    page.uncheck("input[name=nesterov]")
    page.fill("input[name=momentum]", "")
    page.check("input[name=nesterov]")  # nesterov without momentum: the server's 422 is shown, naming the rule
    page.click("#job-form button[type=submit]")
    expect(page.locator("#form-message")).to_contain_text("nesterov needs momentum > 0")


def test_a_jobs_page_shows_its_settings_what_reproduces_it_its_curves_and_its_mistakes(
        page: Page, server: LiveServer, trained: list[dict]) -> None:
    job = server.http.get(f"/jobs/{trained[1]['id']}").json()
    page.goto(f"/#/jobs/{job['id']}")
    expect(page.locator("#status")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#settings")).to_contain_text("adam")
    for value in job["environment"].values():  # mnistlab, torch, python versions, the data's sha256
        expect(page.locator("#environment")).to_contain_text(value)
    expect(page.locator("#curves circle.point")).to_have_count(3 * job["epochs"])  # loss, train, test
    expect(page.locator("#metrics tr")).to_have_count(job["epochs"])
    confusion = server.http.get(f"/jobs/{job['id']}/confusion").json()
    cells = page.locator("table.confusion td.cell")
    expect(cells).to_have_count(100)
    assert sum(int(count) for count in cells.all_inner_texts()) == sum(map(sum, confusion["matrix"]))
    mistakes = server.http.get(f"/jobs/{job['id']}/misclassified?limit=24").json()
    expect(page.locator("#mistakes figure.thumb")).to_have_count(len(mistakes["examples"]))
    shown = page.locator("#mistakes figure.thumb").first
    assert shown.get_attribute("data-index") == str(mistakes["examples"][0]["index"])
    assert page.evaluate("[...document.querySelectorAll('#mistakes img')].every((img) => img.complete "
                         "&& img.naturalWidth === 28)")
    page.locator("#curves svg .hover").first.hover()  # hovering a chart shows the values at that epoch
    expect(page.locator("#curves .tooltip").first).to_contain_text("epoch")


def test_a_jobs_page_runs_it_again_offers_its_files_and_cancels(page: Page, server: LiveServer,
                                                                         trained: list[dict]) -> None:
    original = trained[0]
    page.goto(f"/#/jobs/{original['id']}")
    for link in ("#download", "#export"):  # what the buttons download is there
        response = server.http.get(page.locator(link).get_attribute("href"))
        assert response.status_code == 200 and len(response.content) > 1000
    page.click("#again")
    expect(page).not_to_have_url(re.compile(rf"#/jobs/{original['id']}$"))
    copy_id = int(page.url.rsplit("/", 1)[1])
    copy = server.http.get(f"/jobs/{copy_id}").json()
    settings = ("dataset", "model", "optimizer", "lr", "epochs", "batch_size", "seed", "lr_schedule", "momentum")
    assert {k: copy[k] for k in settings} == {k: original[k] for k in settings}
    # Long enough to be running when the cancel is heard (at the worker's next heartbeat, every 2 s here).
    long_id = server.http.post("/jobs", json={**JOB, "model": "cnn", "optimizer": "adam", "epochs": 200}).json()["id"]
    page.goto(f"/#/jobs/{long_id}")
    page.click("#cancel")
    expect(page.locator("#status")).to_have_attribute("data-status", "cancelled", timeout=30_000)
    assert server.http.get(f"/jobs/{long_id}").json()["status"] == "cancelled"


def test_clicking_a_confusion_cell_lists_exactly_its_images(page: Page, server: LiveServer,
                                                            trained: list[dict]) -> None:
    job_id = trained[0]["id"]
    matrix = server.http.get(f"/jobs/{job_id}/confusion").json()["matrix"]
    count, true, predicted = max((matrix[t][p], t, p) for t in range(10) for p in range(10) if t != p)
    assert count > 1
    page.goto(f"/#/jobs/{job_id}")
    page.click(f"td.cell[data-true='{true}'][data-predicted='{predicted}']")
    images = page.locator("#cell-images figure.thumb")
    expect(images).to_have_count(count)
    assert {(image.get_attribute("data-true"), image.get_attribute("data-predicted"))
            for image in images.all()} == {(str(true), str(predicted))}
    expect(page.locator("#cell-title")).to_contain_text(f"{count} test images of {true} taken for {predicted}")


def test_a_running_jobs_chart_gains_a_point_when_an_epoch_lands(page: Page, server: LiveServer,
                                                               database_url: str) -> None:
    with EpochGate(database_url) as gate:  # the worker records one epoch at a time, when the test says
        job_id = server.http.post("/jobs", json={**JOB, "model": "cnn", "optimizer": "adam", "epochs": 3,
                                                 "batch_size": 100}).json()["id"]
        page.goto(f"/#/jobs/{job_id}")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        points = page.locator("#curves circle.point")
        for epoch in (1, 2, 3):  # each epoch adds its loss, train and test points, without reloading
            gate.wait_for_epoch()
            expect(points).to_have_count(3 * (epoch - 1))
            gate.let_one_epoch_through()
            expect(points).to_have_count(3 * epoch)
    expect(page.locator("#status")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert page.evaluate("window.loadedOnce") is True


def test_events_that_come_while_the_job_list_is_read_are_not_undone_by_it(page: Page, server: LiveServer) -> None:
    """The list is read on each connection of the event stream; a reply made before events that arrive first
    must not put the rows back as they were (a job stayed "queued" after its "status" had come)."""
    held: list[Route] = []
    page.route("**/jobs?limit=50", lambda route: held.append(route))  # the list's read, held until the test lets it answer
    page.goto("/")
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:
        page.evaluate("0")  # Playwright hands the page's requests to the handler while the test calls it
    assert held, "the dashboard never read the job list"
    stale = held[0].fetch()  # the list as it is now, before the job below exists
    # A second stream in the page tells the test when the job's events have reached it.
    page.evaluate("""() => { window.told = []; const probe = new EventSource("/events");
        probe.addEventListener("status", (event) => window.told.push(JSON.parse(event.data).job_id));
        return new Promise((opened) => { probe.onopen = opened; }); }""")
    job_id = _finished(server, {**JOB, "optimizer": "sgd"})["id"]
    page.wait_for_function(f"window.told.includes({job_id})")
    for read in held:  # every read the page made answers with the list from before the job
        read.fulfill(response=stale)
    expect(page.locator(f"tr.job[data-id='{job_id}']")).to_have_attribute("data-status", "succeeded")


def test_compare_shows_only_the_settings_that_differ(page: Page, trained: list[dict]) -> None:
    for job in trained:
        page.check(f"tr.job[data-id='{job['id']}'] input.pick")
    page.click("#compare")
    ids = ",".join(str(job["id"]) for job in sorted(trained, key=lambda job: job["id"]))
    expect(page).to_have_url(re.compile(rf"#/compare/{ids}$"))
    rows = page.locator("#differences tr[data-setting]")
    expect(rows).to_have_count(4)  # SGD's own knobs differ too: Adam has none ("n/a")
    assert sorted(row.get_attribute("data-setting") for row in rows.all()) == ["lr", "momentum", "nesterov",
                                                                              "optimizer"]
    expect(page.locator("#differences tr[data-setting=momentum]")).to_contain_text("n/a")
    expect(page.locator("#differences tr.best").last).to_contain_text("%")
    expect(page.locator("#curves figure.chart").first.locator("circle.point")).to_have_count(2 * JOB["epochs"])
    page.go_back()  # the browser's back button returns to the jobs
    expect(page).to_have_url(re.compile(r"/(#/jobs)?$"))
    expect(page.locator("#job-form")).to_be_visible()


def test_the_data_and_the_architectures_views_show_the_real_thing(page: Page, server: LiveServer) -> None:
    page.goto("/#/data/mnist?label=3&split=test")
    info = server.http.get("/datasets/mnist").json()
    expect(page.locator("#shares .bar-row")).to_have_count(10)
    expect(page.locator("#shares")).to_contain_text(f"{100 * info['train']['label_proportions'][1]:.1f}%")
    listing = server.http.get("/datasets/mnist/images?split=test&label=3").json()
    images = page.locator("#samples img")
    expect(images).to_have_count(len(listing["indices"]))
    assert images.first.get_attribute("src") == f"/datasets/mnist/images/{listing['indices'][0]}.png?split=test"
    expect(page.locator("#page")).to_contain_text(f"of {listing['count']:,} 3 images")
    page.click("#next")
    expect(page.locator("#page")).to_contain_text(f"{len(listing['indices']) + 1}-")
    page.goto("/#/architectures?hidden=32")
    summaries = server.http.get("/architectures?hidden=32").json()
    for summary in summaries:
        total = sum(layer["parameters"] for layer in summary["layers"])
        expect(page.locator(f"section[data-model={summary['model']}] .parameters")).to_have_text(f"{total:,}")


def test_the_models_view_promotes_a_job_and_goes_back_to_the_shipped_model(page: Page, server: LiveServer,
                                                                          trained: list[dict]) -> None:
    job_id = trained[1]["id"]
    page.goto("/#/models")
    expect(page.locator("#defaults tr[data-dataset=mnist]")).to_contain_text("shipped with mnistlab")
    page.click(f"#trained tr[data-job='{job_id}'] button.promote")
    expect(page.locator("#defaults tr[data-dataset=mnist]")).to_have_attribute("data-job", str(job_id))
    assert server.http.get("/models").json()["defaults"]["mnist"]["job_id"] == job_id
    page.click("#defaults tr[data-dataset=mnist] button.reset")
    expect(page.locator("#defaults tr[data-dataset=mnist]")).to_have_attribute("data-job", "")
    assert server.http.get("/models").json()["defaults"]["mnist"]["job_id"] is None


def test_start_a_sweep_and_watch_its_leaderboard_and_charts_fill(page: Page, server: LiveServer) -> None:
    page.goto("/#/sweeps")
    page.fill("#sweep-body", '{"name": "sgd vs adam", "base": {"dataset": "mnist", "model": "linear", "epochs": 2, '
                             '"batch_size": 200, "seed": 0}, "grid": {"optimizer": ["sgd", "adam"]}}')
    page.click("#sweep-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"#/sweeps/\d+$"))
    expect(page.locator("#sweep-status")).to_have_attribute("data-status", "finished", timeout=120_000)
    trials = page.locator("#leaderboard tr.trial")
    expect(trials).to_have_count(2)
    for index in range(2):
        expect(trials.nth(index)).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#leaderboard")).to_contain_text("optimizer=adam")
    expect(page.locator("#trial-curves circle.point")).to_have_count(4)  # two trials, two epochs each
    expect(page.locator("#by-setting figure.chart")).to_have_count(1)  # one chart per varied setting
    expect(page.locator("#by-setting circle.point")).to_have_count(2)
    page.click("#promote-best")
    expect(page.locator("#sweep-action")).to_contain_text("default model is now job")
    best = page.locator("#leaderboard tr.trial").first.get_attribute("data-job")
    assert str(server.http.get("/models").json()["defaults"]["mnist"]["job_id"]) == best
    server.http.delete("/models/mnist/default")
    page.fill("#sweep-body", '{"name": "bad", "base": {}, "grid": {"optimiser": ["sgd"]}}')
    page.click("#sweep-form button[type=submit]")
    expect(page.locator("#sweep-message")).to_contain_text("'optimiser' is not a job field")


def _draw_a_seven(page: Page, *, before_release: Callable[[], None] = lambda: None) -> None:
    """A 7 in several moves of the mouse: the bar, then the stem, 20 small moves each."""
    box = page.locator("#pad").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 70, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 220, box["y"] + 60, steps=20)
    page.mouse.move(box["x"] + 120, box["y"] + 240, steps=20)
    before_release()
    page.mouse.up()


def test_the_drawing_board_answers_while_the_stroke_goes_on_and_shows_what_the_model_saw(page: Page) -> None:
    in_flight: dict[str, int] = {}
    most_in_flight: dict[str, int] = {}

    def started(request) -> None:  # type: ignore[no-untyped-def]
        if "/explain" in request.url:
            in_flight[request.url] = in_flight.get(request.url, 0) + 1
            most_in_flight[request.url] = max(most_in_flight.get(request.url, 0), in_flight[request.url])

    def ended(request) -> None:  # type: ignore[no-untyped-def]
        if "/explain" in request.url:
            in_flight[request.url] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.goto("/#/draw")
    panel = page.locator("#panel-a")
    expect(panel.locator(".seen")).to_be_hidden()  # no broken image before the first answer
    answered_while_drawing: list[int] = []

    def count_answers() -> None:  # the mouse is still down: at least two answers have arrived
        wait_for(lambda: int(panel.get_attribute("data-answers")) >= 2, timeout=30,
                 what="two answers before the mouse is released")
        answered_while_drawing.append(int(panel.get_attribute("data-answers")))

    _draw_a_seven(page, before_release=count_answers)
    assert answered_while_drawing and answered_while_drawing[0] >= 2
    expect(panel).to_have_attribute("data-label", "7", timeout=30_000)  # the shipped model, on the whole 7
    expect(panel.locator(".predicted")).to_have_text("7")
    expect(panel.locator(".probabilities .bar-row")).to_have_count(10)
    for picture in (".seen", ".heatmap", ".gradcam"):
        expect(panel.locator(picture)).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(panel.locator(".feature-maps img")).to_have_count(5)  # the shipped convnet's five convolutions
    # 40 moves, and never more than one request at a time for the model: stale drawings are dropped.
    assert most_in_flight == {f"{page.url.split('#')[0].rstrip('/')}/explain?dataset=mnist": 1}, most_in_flight


def test_two_models_answer_for_the_same_drawing(page: Page, trained: list[dict]) -> None:
    job_id = trained[1]["id"]  # a linear job: no convolution, so no Grad-CAM and no feature maps
    page.goto(f"/#/draw?a=dataset=mnist&b=job_id={job_id}")
    _draw_a_seven(page)
    left, right = page.locator("#panel-a"), page.locator("#panel-b")
    expect(left).to_have_attribute("data-label", "7", timeout=30_000)
    expect(right).to_have_attribute("data-label", re.compile(r"^\d$"), timeout=30_000)
    expect(right.locator(".answer")).to_contain_text(f"job {job_id}")
    expect(right.locator(".heatmap")).to_be_visible()
    expect(right.locator(".gradcam")).to_be_hidden()
    expect(right.locator(".feature-maps img")).to_have_count(0)
    # Both answered the final drawing: asking again by hand gives the same labels.
    for side in (left, right):  # the stroke's last answers may still be on their way
        expect(side).to_have_attribute("aria-busy", "false")
    labels = (left.get_attribute("data-label"), right.get_attribute("data-label"))
    answers = (int(left.get_attribute("data-answers")), int(right.get_attribute("data-answers")))
    page.click("#predict-drawing")
    expect(left).to_have_attribute("data-answers", str(answers[0] + 1))
    expect(right).to_have_attribute("data-answers", str(answers[1] + 1))
    assert (left.get_attribute("data-label"), right.get_attribute("data-label")) == labels


def test_a_jobs_page_shows_its_first_layer_filters(page: Page, trained: list[dict]) -> None:
    page.goto(f"/#/jobs/{trained[1]['id']}")
    expect(page.locator("#filters-image")).to_have_attribute("data-kind", "class_templates")
    expect(page.locator("#filters-image")).to_have_attribute("data-count", "10")


def test_an_answer_that_arrives_after_the_user_moved_on_breaks_nothing(page: Page, trained: list[dict]) -> None:
    """A job's filters answer late (held here until the jobs list is shown): no error in the page, and the
    list it lands after is left as it was."""
    held: list = []
    page.route("**/jobs/*/filters", lambda route: held.append(route), times=1)  # the next ones go through
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with page.expect_request("**/jobs/*/filters"):  # asked for once the confusion matrix is drawn
        page.goto(f"/#/jobs/{trained[1]['id']}")
    page.goto("/#/jobs")
    expect(page.locator("tr.job").first).to_be_visible()
    assert len(held) == 1
    with page.expect_response("**/jobs/*/filters") as late:
        held[0].continue_()
    # A second fetch of the same answer, awaited in the page, ends after the first one's handler has run.
    page.evaluate("url => fetch(url).then((r) => r.json())", late.value.url)
    assert errors == []
    expect(page.locator("#filters")).to_have_count(0)
    expect(page.locator("tr.job").first).to_be_visible()


def test_bad_addresses_are_messages_in_the_page(page: Page) -> None:
    for address, words in [("/#/jobs/999999", "job 999999"), ("/#/data/mnist?label=12", "label"),
                           ("/#/data/mnist?label=3&split=test&offset=5000", "offset 5000 is past"),
                           ("/#/data/emnist", "mnist"), ("/#/nowhere", "no such page")]:
        page.goto(address)
        expect(page.locator("#view .error")).to_contain_text(words)


def test_nothing_loads_from_another_origin(browser: Browser, server: LiveServer, trained: list[dict]) -> None:
    """Every request to another origin is blocked; the notebook and the API docs still render fully."""
    context = browser.new_context(base_url=server.url)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(server.url))
    elsewhere: list[str] = []

    def only_ours(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        if url.startswith(origin + "/") or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", only_ours)
    page = context.new_page()
    failed: list[str] = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    page.on("pageerror", lambda error: failed.append(str(error)))
    job_id = trained[0]["id"]
    for address, rendered in [("/#/jobs", "tr.job"), (f"/#/jobs/{job_id}", "table.confusion"),
                              (f"/#/compare/{job_id}", "#curves circle.point"), ("/#/sweeps", "#sweep-form"),
                              ("/#/models", "#defaults tr"), ("/#/data/fashion-mnist", "#samples img"),
                              ("/#/architectures", "section.architecture"), ("/#/draw", "#pad"),
                              ("/docs", ".swagger-ui .opblock"), ("/redoc", "[data-section-id]")]:
        page.goto(address)
        expect(page.locator(rendered).first).to_be_visible(timeout=30_000)
    context.close()
    assert elsewhere == [] and failed == []


def test_the_dashboard_follows_one_event_stream_and_reconnects_after_a_drop(server: LiveServer,
                                                                            browser: Browser) -> None:
    """No polling timer: each (re)connection of GET /events reads GET /jobs once, then only events arrive."""
    proxy = CuttableProxy(int(server.url.rsplit(":", 1)[1]))  # sees every request the page makes

    def requests() -> list[str]:
        return [chunk.split(b" ", 2)[1].decode() for chunk in proxy.sent if chunk.startswith(b"GET ")]

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(proxy.url + "/")
        wait_for(lambda: "/jobs?limit=50" in requests(), timeout=30, what="the dashboard's first read")
        first = server.http.post("/jobs", json={**JOB, "optimizer": "adam", "seed": 11}).json()["id"]
        row = page.locator(f"tr.job[data-id='{first}']")
        expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)  # created, then events
        proxy.cut()  # the stream drops; the page must reconnect by itself
        wait_for(lambda: requests().count("/events") == 2, timeout=30, what="the dashboard to reconnect")
        second = server.http.post("/jobs", json={**JOB, "optimizer": "adam", "seed": 12}).json()["id"]
        expect(page.locator(f"tr.job[data-id='{second}']")).to_have_attribute("data-status", "succeeded",
                                                                               timeout=120_000)
        reads = [url for url in requests() if url.startswith(("/jobs", "/sweeps"))]
        assert reads == ["/jobs?limit=50", "/jobs?limit=50"]  # one per connection
    finally:
        context.close()
        proxy.close()
