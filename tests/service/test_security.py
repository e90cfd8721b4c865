"""API key, CORS, idempotent submission and path safety (issue 6, items 9 and 11-13)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mnistlab.settings import Settings
from service.app import create_app
from tests.helpers.images import blank_png
from tests.helpers.ports import free_port
from tests.helpers.postgres import both_databases
from tests.helpers.servers import (
    REPO,
    Processes,
    make_settings,
    settings_env,
    start_server,
)

JOB = {"dataset": "mnist", "model": "linear", "optimizer": "sgd", "epochs": 1, "seed": 0}
KEY = "s3cret-key-for-tests"


def _app(tmp_path: Path, data_dir: Path, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path / "home", data_dir, **settings)))


def test_with_an_api_key_every_request_but_health_needs_it(tmp_path: Path) -> None:
    with _app(tmp_path, tmp_path / "no-data", api_key=KEY) as client:
        assert client.get("/health").status_code == 200
        for method, path in [("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/models"), ("POST", "/predict"),
                             ("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/jobs/1/events"),
                             ("GET", "/v2/models/mnist"), ("POST", "/v2/models/mnist/infer")]:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "MNISTLAB_API_KEY" in response.json()["detail"]
        for wrong in ("Bearer nope", f"Bearer {KEY}x", KEY, f"bearer {KEY}", ""):
            assert client.get("/jobs", headers={"Authorization": wrong}).status_code == 401
        good = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/jobs", headers=good).status_code == 200
        assert client.post("/jobs", json=JOB, headers=good).status_code == 201


def test_public_predict_leaves_predict_and_the_model_list_open(tmp_path: Path) -> None:
    with _app(tmp_path, tmp_path / "no-data", api_key=KEY, public_predict=True) as client:
        assert client.get("/models").status_code == 200
        assert client.post("/predict", content=b"", headers={"Content-Type": "image/png"}).status_code == 422
        assert client.put("/models/mnist/default", json={"job_id": 1}).status_code == 401
        assert client.get("/jobs").status_code == 401
        assert client.get("/v2/models/mnist").status_code == 200  # the Open Inference Protocol is as open
        image = {"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}]}
        assert client.post("/v2/models/mnist/infer", json=image).status_code == 200
        assert client.get("/v2x").status_code == 401  # only that prefix


@pytest.mark.slow  # starts `mnistlab serve`
def test_without_a_key_serve_binds_to_loopback_only_and_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", tmp_path / "no-data")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mnistlab.cli", "serve", "--workers", "0", "--api-workers", "1",
                               "--host", "0.0.0.0", "--port", str(port)], env=settings_env(settings), cwd=REPO,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        lines = []
        for line in server.stderr:
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        output = "".join(lines)
        assert "MNISTLAB_API_KEY is not set: binding to 127.0.0.1 only instead of 0.0.0.0" in output
        assert f"http://127.0.0.1:{port}" in output
    finally:
        server.terminate()
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # a loaded machine: make sure it goes, and its pipe is closed
            server.kill()
            server.communicate()


def test_cors_is_off_unless_origins_are_listed(tmp_path: Path, client: TestClient) -> None:
    origin = {"Origin": "https://lab.example.org"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    with _app(tmp_path, tmp_path / "no-data", cors_origins="https://lab.example.org, https://other.example.org",
              api_key=KEY) as cors:
        allowed = cors.get("/health", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://lab.example.org"
        preflight = cors.options("/jobs", headers={**origin, "Access-Control-Request-Method": "POST",
                                                    "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200
        stranger = cors.get("/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in stranger.headers


@both_databases
def test_the_same_idempotency_key_twice_creates_one_job(client: TestClient) -> None:
    first = client.post("/jobs", json=JOB, headers={"Idempotency-Key": "abc-1"})
    again = client.post("/jobs", json=JOB, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = client.post("/jobs", json=JOB, headers={"Idempotency-Key": "abc-2"})
    assert other.json()["id"] != first.json()["id"]
    misuse = client.post("/jobs", json={**JOB, "epochs": 2}, headers={"Idempotency-Key": "abc-1"})
    assert misuse.status_code == 409 and "different job request" in misuse.text
    assert client.get("/jobs").json()["total"] == 2


@both_databases
def test_concurrent_posts_with_one_idempotency_key_create_one_job(client: TestClient) -> None:
    barrier, ids = threading.Barrier(8), []

    def post() -> None:
        barrier.wait()
        ids.append(client.post("/jobs", json=JOB, headers={"Idempotency-Key": "race"}).json()["id"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert client.get("/jobs").json()["total"] == 1


TRAVERSALS = [
    "/jobs/..%2F..%2Fetc%2Fpasswd", "/jobs/1%2F..%2F..%2Fetc/checkpoint", "/jobs/%2Fetc%2Fpasswd/checkpoint",
    "/jobs/1/checkpoint?which=..%2F..%2Fmnistlab.db", "/jobs/1/checkpoint?which=/etc/passwd",
    "/jobs/1/checkpoint?which=../../mnistlab.db", "/datasets/..%2F..%2Fetc", "/datasets/%2Fetc%2Fpasswd/samples.png",
    "/jobs/-1/checkpoint", "/jobs/1e3/metrics", "/static/../../mnistlab.db", "/..%2F..%2Fmnistlab.db",
    "/../../mnistlab.db", "/jobs/1/../../../mnistlab.db", "/jobs/../../etc/passwd", "/./../etc/passwd",
    "/jobs/1/checkpoint/../../../../etc/passwd", "//etc/passwd",
]


def raw_get(url: str, target: str) -> tuple[int, bytes]:
    """GET with the request target exactly as given: HTTP clients resolve `../` before sending, a socket does not."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


@pytest.mark.slow
def test_traversal_attempts_never_reach_a_file(processes: Processes, settings: Settings) -> None:
    server = start_server(processes, settings, workers=0)
    server.http.post("/jobs", json=JOB)
    for target in TRAVERSALS:
        status, content = raw_get(server.url, target)
        assert status in (400, 404, 409, 422), (target, status)
        assert b"SQLite" not in content and b"root:" not in content, target
    assert raw_get(server.url, "/jobs/1")[0] == 200  # the same socket client does reach real routes


def test_an_uploaded_file_name_is_only_echoed_back(client: TestClient, tmp_path: Path) -> None:
    name = "../../../../tmp/mnistlab-pwned.png"
    response = client.post("/predict", files={"file": (name, blank_png(), "image/png")})
    assert response.json()["predictions"][0]["filename"] == name
    assert not Path("/tmp/mnistlab-pwned.png").exists()
