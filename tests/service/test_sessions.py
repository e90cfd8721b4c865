"""Browser sessions where a key is required (issue 18): sign in, cookie or Bearer everywhere, forged and
expired cookies, cross-site requests, wrong keys counted and limited, and nothing changed without a key."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.sessions import COOKIE, FAILURES_PER_MINUTE, SessionSigner, SignInGuard
from tests.helpers.postgres import both_databases
from tests.helpers.servers import make_settings

KEY = "s3ssion-key-for-tests"
JOB = {"dataset": "mnist", "model": "linear", "optimizer": "sgd", "epochs": 1, "seed": 0}
ORIGIN = {"Origin": "http://testserver"}  # what a browser sends with a POST from the dashboard itself


def _app(tmp_path: Path, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path / "home", tmp_path / "no-data", **settings)))


def _signed_in(client: TestClient) -> str:
    response = client.post("/session", json={"key": KEY})
    assert response.status_code == 200 and response.json()["signed_in"] is True
    return response.cookies[COOKIE]


def test_a_browser_gets_the_sign_in_page_and_programs_get_json(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        for page in ("/", "/docs", "/redoc"):
            shown = client.get(page, headers={"Accept": "text/html,application/xhtml+xml"})
            assert shown.status_code == 401 and shown.headers["content-type"].startswith("text/html")
            assert "Sign in" in shown.text and 'action="/session"' in shown.text
        program = client.get("/")
        assert program.status_code == 401 and "MNISTLAB_API_KEY" in program.json()["detail"]
        assert client.get("/session").json() == {"key_required": True, "signed_in": False}


def test_the_cookie_is_http_only_strict_and_expires(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY, session_hours=2) as client:
        header = client.post("/session", json={"key": KEY}).headers["set-cookie"]
        assert header.startswith(f"{COOKIE}=") and "HttpOnly" in header and "SameSite=strict" in header
        assert "Max-Age=7200" in header and "Secure" not in header  # plain HTTP here
    with _app(tmp_path, api_key=KEY, cookie_secure=True) as client:
        assert "Secure" in client.post("/session", json={"key": KEY}).headers["set-cookie"]
    with _app(tmp_path, api_key=KEY) as client:  # a plain HTML form: a redirect to the dashboard
        form = client.post("/session", data={"key": KEY}, follow_redirects=False)
        assert form.status_code == 303 and form.headers["location"] == "/" and COOKIE in form.headers["set-cookie"]


def test_cookie_and_bearer_are_both_accepted_everywhere_a_key_is_needed(tmp_path: Path) -> None:
    routes = [("GET", "/jobs"), ("GET", "/models"), ("GET", "/metrics"), ("GET", "/spec"), ("GET", "/sweeps"),
              ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/"), ("GET", "/v2/models/mnist"),
              ("GET", "/jobs/424242/events"), ("GET", "/jobs/424242/export"), ("GET", "/architectures")]
    with _app(tmp_path, api_key=KEY) as bearer, _app(tmp_path, api_key=KEY) as browser:
        _signed_in(browser)
        bearer.headers["Authorization"] = f"Bearer {KEY}"
        for method, path in routes:
            by_key, by_cookie = bearer.request(method, path), browser.request(method, path)
            assert by_key.status_code == by_cookie.status_code and by_key.status_code in (200, 404), (method, path)
        assert bearer.post("/jobs", json=JOB).status_code == 201
        assert browser.post("/jobs", json=JOB, headers=ORIGIN).status_code == 201
        assert browser.post("/predict", content=b"", headers={**ORIGIN, "Content-Type": "image/png"}).status_code == 422
        assert "Sign in" not in browser.get("/", headers={"Accept": "text/html"}).text  # the dashboard itself
        assert browser.get("/session").json() == {"key_required": True, "signed_in": True}


def test_forged_expired_and_other_key_cookies_are_401(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        good = _signed_in(client)
        client.cookies.clear()
        expires, nonce, signature = good.split(".")
        later = str(int(expires) + 10**6)
        forged = [f"{later}.{nonce}.{signature}",  # a longer life, same signature
                  f"{expires}.{nonce}.{signature[:-2]}AA",  # a changed signature
                  "not-a-cookie",
                  SessionSigner(KEY, hours=12).issue(now=time.time() - 13 * 3600)[0],  # expired an hour ago
                  SessionSigner("another-key", hours=12).issue()[0]]  # signed with another (an old) key
        for value in forged:
            response = client.get("/jobs", headers={"Cookie": f"{COOKIE}={value}"})
            assert response.status_code == 401, value
            assert "sign in again" in response.json()["detail"]
        assert client.get("/jobs", headers={"Cookie": f"{COOKIE}={good}"}).status_code == 200
    with _app(tmp_path, api_key="the-rotated-key") as rotated:  # rotating the key signs everyone out
        assert rotated.get("/jobs", headers={"Cookie": f"{COOKIE}={good}"}).status_code == 401


def test_a_cross_site_request_with_a_valid_cookie_is_403_and_bearer_is_unaffected(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        _signed_in(client)
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": "http://testserver.evil.example"}):
            refused = client.post("/jobs", json=JOB, headers=headers)
            assert refused.status_code == 403 and "cross-site" in refused.json()["detail"], headers
            assert client.delete("/models/mnist/default", headers=headers).status_code == 403
        assert client.get("/jobs", headers={"Origin": "https://evil.example"}).status_code == 200  # reads are safe
        assert client.post("/jobs", json=JOB, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 201
        client.cookies.clear()
        programs = client.post("/jobs", json=JOB, headers={"Authorization": f"Bearer {KEY}",
                                                           "Origin": "https://evil.example"})
        assert programs.status_code == 201
        login = client.post("/session", json={"key": KEY}, headers={"Origin": "https://evil.example"})
        assert login.status_code == 403  # no signing a browser in from another site either


def test_wrong_keys_are_counted_and_ten_a_minute_get_429(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        def wrong(_: int) -> int:
            return client.post("/session", json={"key": "guess"}).status_code

        with ThreadPoolExecutor(FAILURES_PER_MINUTE) as pool:  # each wrong key waits a second: in parallel
            assert list(pool.map(wrong, range(FAILURES_PER_MINUTE))) == [401] * FAILURES_PER_MINUTE
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
        assert re.search(rf"^mnistlab_signin_failures_total {FAILURES_PER_MINUTE}\.0$", metrics, re.M)
        limited = client.post("/session", json={"key": KEY})  # even the right key, for the rest of the minute
        assert limited.status_code == 429 and 50 <= int(limited.headers["retry-after"]) <= 60
        assert "too many sign-in attempts" in limited.json()["detail"]
        assert client.get("/jobs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200  # programs go on


def test_bad_sign_in_bodies_are_422_and_signing_out_clears_the_cookie(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        for body in ({}, {"key": ""}, {"key": 5}):
            response = client.post("/session", json=body)
            assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "key"]
        assert client.post("/session", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
        _signed_in(client)
        out = client.delete("/session")
        assert out.status_code == 200 and f'{COOKIE}=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
        assert client.get("/jobs").status_code == 401


def test_public_predict_stays_open_beside_sessions(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY, public_predict=True) as client:
        assert client.post("/predict", content=b"", headers={"Content-Type": "image/png"}).status_code == 422
        assert client.get("/v2/models/mnist").status_code == 200 and client.get("/models").status_code == 200
        assert client.get("/jobs").status_code == 401


def test_without_a_key_nothing_changes(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 200  # the dashboard, no sign-in
        assert client.get("/session").json() == {"key_required": False, "signed_in": False}
        refused = client.post("/session", json={"key": "anything"})
        assert refused.status_code == 409 and "no API key" in refused.json()["detail"]
        assert "security" not in client.get("/openapi.json").json()


def test_the_openapi_schema_documents_bearer_and_the_cookie(tmp_path: Path) -> None:
    with _app(tmp_path, api_key=KEY) as client:
        schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
        schemes = schema["components"]["securitySchemes"]
        assert schemes["bearer"] == {"type": "http", "scheme": "bearer",
                                     "description": "Authorization: Bearer <MNISTLAB_API_KEY>"}
        assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == COOKIE
        assert schema["security"] == [{"bearer": []}, {"session": []}]


@both_databases
def test_sign_in_attempts_are_one_count_for_every_process_per_address_and_minute(sessions) -> None:  # type: ignore[no-untyped-def]
    first, second = SignInGuard(sessions), SignInGuard(sessions)  # as two API processes would hold them
    start = 1_800_000_000.0
    for attempt in range(FAILURES_PER_MINUTE):
        assert (first if attempt % 2 else second).attempt("10.0.0.1", now=start + attempt) == 0
    assert first.attempt("10.0.0.1", now=start + 20) == 40  # the rest of the minute that began at `start`
    assert second.attempt("10.0.0.1", now=start + 59.5) == 1
    assert first.attempt("10.0.0.2", now=start + 30) == 0  # another address is not held back
    second.forgive("10.0.0.2")  # a right key: that attempt does not count
    assert all(first.attempt("10.0.0.2", now=start + 31) == 0 for _ in range(FAILURES_PER_MINUTE))
    assert first.attempt("10.0.0.2", now=start + 32) > 0
    assert second.attempt("10.0.0.1", now=start + 60) == 0  # a new minute
