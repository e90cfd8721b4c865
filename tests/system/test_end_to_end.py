"""The README walkthrough against a real `mnistlab serve` on the full MNIST."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from models_store.architectures import build_model
from tests.helpers.jobs import README_JOB
from tests.helpers.servers import REPO, Processes, make_settings, start_server, wait_for

pytestmark = pytest.mark.slow


def test_the_readme_walkthrough_posts_exactly_this_job() -> None:
    assert json.dumps(README_JOB, separators=(",", ":")) in (REPO / "README.md").read_text()


def test_the_readme_job_trains_to_975_and_its_checkpoint_loads(processes: Processes, data_dir: Path,
                                                                tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", data_dir, heartbeat_timeout=30)
    server = start_server(processes, settings)
    created = server.http.post("/jobs", json=README_JOB)
    assert created.status_code == 201
    job_id = created.json()["id"]
    job = wait_for(lambda: (j := server.http.get(f"/jobs/{job_id}").json())["status"] in ("succeeded", "failed") and j,
                   timeout=300, what="the README job to end", interval=0.5)
    assert job["status"] == "succeeded", job["error"]
    metrics = server.http.get(f"/jobs/{job_id}/metrics").json()
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert metrics[-1]["test_accuracy"] >= 0.975
    payload = torch.load(io.BytesIO(server.http.get(f"/jobs/{job_id}/checkpoint").content), weights_only=True)
    model = build_model("cnn")
    model.load_state_dict(payload["model"])
    assert set(payload) >= {"model", "optimizer", "epoch", "rng_state", "config"}
