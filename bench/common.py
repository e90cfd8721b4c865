"""What every benchmark prints first: the machine, the date, the versions."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch

from tests.helpers.ports import free_port


def describe_machine(device: str = "cpu") -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            name = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if device.startswith("cuda") and torch.cuda.is_available() else ""
    return (f"{datetime.date.today()} | {name}, {os.cpu_count()} cores{gpu} | torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads | Python {platform.python_version()}")


def best_of(repeats: int, run: Callable[[], object], sync: Callable[[], None] = lambda: None) -> float:
    """The fastest of several runs: the least disturbed by whatever else the machine did."""
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass(frozen=True)
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    home: Path
    log: Path


@contextmanager
def mnistlab_server(*, workers: int = 0, datasets: Path | None = None, env: dict[str, str] | None = None,
                    code: Path | None = None, serve_args: list[str] | None = None,
                    warm: bool = False) -> Iterator[RunningServer]:
    """A real `mnistlab serve` in a temp MNISTLAB_HOME on a free port, healthy (and its workers ready).
    code: run the mnistlab found in that folder (another checkout, to compare with), not this one.
    warm: also wait until every API process has loaded the default models (the start-up's exports, seconds
    of CPU, are then over: what is measured next is the server as it runs, not as it starts)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = {**os.environ, "MNISTLAB_HOME": str(home), "MNISTLAB_DOWNLOAD": "false", **(env or {})}
        if datasets is not None:
            subprocess.run([sys.executable, "-m", "mnistlab.cli", "datasets", "import", str(datasets)], env=env,
                           check=True, capture_output=True, cwd=code)
        log = home / "serve.log"
        with open(log, "wb") as output:
            process = subprocess.Popen([sys.executable, "-m", "mnistlab.cli", "serve", "--workers", str(workers),
                                        "--port", str(port), *(serve_args or [])], env=env, stdout=output,
                                       stderr=output, cwd=code)
        server = RunningServer(url=f"http://127.0.0.1:{port}", process=process, home=home, log=log)
        try:
            while not _ready(server, workers, warm):
                time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # wedged (seen: the API before issue 11 under read load)
                print(f"  (the server did not stop within 60 s of SIGTERM: killed; {workers} worker(s) follow it)",
                      flush=True)
                process.kill()
                process.wait()


def _ready(server: RunningServer, workers: int, warm: bool) -> bool:
    assert server.process.poll() is None, server.log.read_text()
    try:
        healthy = httpx.get(f"{server.url}/health").status_code == 200
    except httpx.TransportError:
        return False
    log = server.log.read_text()
    started_apis = log.count("Application startup complete.")
    return (healthy and log.count(" ready (devices") >= workers
            and (not warm or 0 < started_apis <= log.count("default models loaded in")))
