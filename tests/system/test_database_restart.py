"""PostgreSQL restarted while a job trains and the API answers: everyone reconnects by themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.jobs import QUICK_JOB
from tests.helpers.ports import free_port
from tests.helpers.postgres import PostgresServer, create_database
from tests.helpers.servers import Processes, make_settings, start_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]


@pytest.fixture
def restartable_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: the shared one is never stopped."""
    server = PostgresServer(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def test_postgresql_restarted_mid_job(restartable_postgres: PostgresServer, tmp_path: Path,
                                      small_data_dir: Path) -> None:
    settings = make_settings(tmp_path / "home", small_data_dir,
                             database_url=create_database(restartable_postgres.admin_url()))
    processes = Processes(settings)
    try:
        server = start_server(processes, settings, workers=1)
        job_id = server.http.post("/jobs", json={"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 4,
                                                 "batch_size": 64, "seed": 4}).json()["id"]
        wait_for(lambda: len(server.http.get(f"/jobs/{job_id}/metrics").json()) >= 1, timeout=120, what="epoch 1")
        restartable_postgres.halt()
        # While it is down: a clear 503 that says when to come back, for reads and writes alike.
        for method, path in [("GET", f"/jobs/{job_id}"), ("GET", "/jobs"), ("POST", "/jobs")]:
            response = server.http.request(method, path, json=QUICK_JOB if method == "POST" else None)
            assert response.status_code == 503, (method, path, response.text)
            assert response.headers["retry-after"] == "5" and "the database is unavailable" in response.json()["detail"]
        assert server.http.get("/health").status_code in (200, 503)  # it answers, whatever it says
        restartable_postgres.launch()
        done = wait_for(lambda: (job := server.http.get(f"/jobs/{job_id}").json())["status"] == "succeeded" and job,
                        timeout=180, what="the job to finish after the restart")
        assert [m["epoch"] for m in server.http.get(f"/jobs/{job_id}/metrics").json()] == [1, 2, 3, 4]  # each once
        assert done["progress"]["epoch"] == 4
        assert server.http.get("/jobs").status_code == 200
        assert server.process.poll() is None
    finally:
        processes.stop_all()
