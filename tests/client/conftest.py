"""One real server for the client's and the CLI's tests: `serve` with an API key (no workers of its own)
and a worker process beside it, on the small data sets, shared by both modules (their tests add jobs of their
own and put back any default model they promote)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mnistlab.client import Client
from mnistlab.settings import Settings
from tests.helpers.servers import Processes, make_settings, start_server, wait_for

API_KEY = "client-tests-key"


@dataclass
class Lab:
    url: str
    settings: Settings
    processes: Processes

    def client(self, **options: object) -> Client:
        return Client(url=options.pop("url", self.url), api_key=options.pop("api_key", API_KEY), **options)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """What a shell user of the CLI would have set."""
        return {"MNISTLAB_URL": self.url, "MNISTLAB_API_KEY": API_KEY}


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("client-lab")
    settings = make_settings(home, small_data_dir, api_key=API_KEY)
    processes = Processes(settings)
    try:
        server = start_server(processes, settings, workers=0)
        log = home / "worker.log"
        processes.worker(log=log)
        wait_for(lambda: log.exists() and "worker ready" in log.read_text(), timeout=60, what="the worker")
        yield Lab(server.url, settings, processes)
    finally:
        processes.stop_all()
