"""`mnistlab serve --api-workers 2`: two API processes on one port, one /metrics, one sweeper, stopped in order."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import text

from mnistlab.db import make_engine
from mnistlab.settings import Settings
from service.routes.session import WRONG_KEY_DELAY
from service.sessions import FAILURES_PER_MINUTE
from tests.helpers.images import png
from tests.helpers.servers import LiveServer, Processes, make_settings, start_server, wait_for

pytestmark = pytest.mark.slow
DIGIT = png(__import__("numpy").zeros((28, 28), dtype="uint8"))


def _api_processes(server: LiveServer) -> list[int]:
    """The API processes uvicorn's supervisor runs under `serve` (spawned by multiprocessing)."""
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
        if int(fields["PPid"]) == server.process.pid and b"spawn_main" in command:
            children.append(int(status.parent.name))
    return sorted(children)


def _metrics_folder(pid: int) -> Path:
    environment = dict(entry.split(b"=", 1) for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                       if b"=" in entry)
    return Path(environment[b"PROMETHEUS_MULTIPROC_DIR"].decode())


def _predicted_by(folder: Path, pid: int) -> float:
    """Images one API process counted, read from its own Prometheus multi-process file."""
    path = folder / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    return sum(value for key, value, *_ in MmapedDict.read_all_values_from_file(str(path))
               if '"mnistlab_predicted_images_total"' in key)


def _scraped(url: str, line: str) -> float:
    text = httpx.get(f"{url}/metrics").text  # a new connection each time: either process may answer
    match = re.search(rf"^{re.escape(line)} (\S+)$", text, re.M)
    return float(match[1]) if match else 0.0


def _sweeper_lock_holders(home: Path) -> set[int]:
    inode = os.stat(home / "sweeper.lock").st_ino
    holders = set()
    for entry in Path("/proc/locks").read_text().splitlines():
        parts = entry.split()  # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        if parts[1] == "FLOCK" and int(parts[5].rsplit(":", 1)[1]) == inode:
            holders.add(int(parts[4]))
    return holders


def test_two_api_processes_share_the_port_and_one_metrics_page(processes: Processes, settings: Settings) -> None:
    server = start_server(processes, settings, workers=0, api_workers=2)
    pids = wait_for(lambda: len(_api_processes(server)) == 2 and _api_processes(server), timeout=60,
                    what="two API processes")
    folder = _metrics_folder(pids[0])
    sent = 0
    # New connections until both processes have answered some: the kernel picks one per connection.
    while sent < 2000 and not all(_predicted_by(folder, pid) > 0 for pid in pids):
        response = httpx.post(f"{server.url}/predict", content=DIGIT, headers={"Content-Type": "image/png"})
        assert response.status_code == 200
        sent += 1
    counted = [_predicted_by(folder, pid) for pid in pids]
    assert all(count > 0 for count in counted) and sum(counted) == sent
    for _ in range(6):  # whichever process answers the scrape, it counts both
        assert _scraped(server.url, 'mnistlab_predicted_images_total{dataset="mnist"}') == sent
        assert _scraped(server.url, 'mnistlab_http_requests_total{method="POST",route="/predict",status="200"}') == sent


def test_one_process_sweeps_and_another_takes_over_when_it_dies(processes: Processes, settings: Settings) -> None:
    server = start_server(processes, settings, workers=0, api_workers=2)
    pids = wait_for(lambda: len(_api_processes(server)) == 2 and _api_processes(server), timeout=60,
                    what="two API processes")
    holders = wait_for(lambda: (settings.home / "sweeper.lock").exists() and _sweeper_lock_holders(settings.home),
                       timeout=30, what="an API process to take the sweeper lock")
    assert len(holders) == 1 and holders <= set(pids)
    (sweeper,) = holders
    os.kill(sweeper, signal.SIGKILL)  # uvicorn's supervisor starts a replacement; the lock passes on
    new_holders = wait_for(lambda: (_sweeper_lock_holders(settings.home) - {sweeper}), timeout=60,
                           what="another API process to take the sweeper lock")
    assert len(new_holders) == 1 and len(_sweeper_lock_holders(settings.home)) == 1
    assert httpx.post(f"{server.url}/predict", content=DIGIT, headers={"Content-Type": "image/png"}).status_code == 200


def test_sigterm_stops_the_api_processes_then_the_workers(processes: Processes, settings: Settings,
                                                          tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    server = start_server(processes, settings, workers=1, api_workers=2, log=log)
    pids = wait_for(lambda: len(_api_processes(server)) == 2 and _api_processes(server), timeout=60,
                    what="two API processes")
    wait_for(lambda: "worker ready" in log.read_text(), timeout=60, what="the worker")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    text = log.read_text()
    finished = [text.index(f"Finished server process [{pid}]") for pid in pids]
    assert max(finished) < text.index("worker exiting after")  # the API first, then the workers hand back
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def _answer(connection: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and headers of the one response on a `Connection: close` socket."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers


def test_sign_in_attempts_are_counted_before_their_bodies_and_across_api_processes(
        processes: Processes, settings: Settings) -> None:
    """40 connections send their headers, then all their bodies (wrong keys), to two API processes: ten
    attempts a minute from one address in all, each wrong key answered after the documented delay."""
    keyed = make_settings(settings.home, settings.datasets_dir, database_url=settings.db_url, api_key="the right key")
    server = start_server(processes, keyed, workers=0, api_workers=2)
    wait_for(lambda: len(_api_processes(server)) == 2, timeout=60, what="two API processes")
    port = int(server.url.rsplit(":", 1)[1])
    body = b'{"key": "a wrong guess"}'
    head = (f"POST /session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    connections = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(40)]
    for connection in connections:
        connection.sendall(head)
    # Every attempt is counted while its key has not even been sent.
    engine = make_engine(keyed.db_url)

    def counted() -> int | None:  # a transaction per look: one would keep seeing its first snapshot
        with engine.connect() as database:
            return database.scalar(text("SELECT attempts FROM sign_in_attempts WHERE address = '127.0.0.1'"))

    try:
        wait_for(lambda: counted() == len(connections), timeout=30, what="40 attempts counted before their bodies")
    finally:
        engine.dispose()
    sent_at = []
    for connection in connections:
        sent_at.append(time.monotonic())
        connection.sendall(body)
    answers = []
    with ThreadPoolExecutor(len(connections)) as pool:
        for (status, headers), started in zip(pool.map(_answer, connections), sent_at, strict=True):
            answers.append((status, headers, time.monotonic() - started))
    for connection in connections:
        connection.close()
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {401, 429} and statuses[401] <= FAILURES_PER_MINUTE, statuses
    assert statuses[429] >= len(connections) - FAILURES_PER_MINUTE
    assert all(50 <= int(headers["retry-after"]) <= 60 for status, headers, _ in answers if status == 429)
    assert all(took >= WRONG_KEY_DELAY for status, _, took in answers if status == 401)
    limited = httpx.post(f"{server.url}/session", json={"key": "the right key"})
    assert limited.status_code == 429  # the address waits out its minute, whatever key it sends now
