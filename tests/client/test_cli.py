"""The `mnistlab` client commands through real subprocesses: exit codes, --json read back, messages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

from mnistlab.datasets import load_split
from tests.client.conftest import Lab
from tests.helpers.images import dataset_image
from tests.helpers.ports import free_port
from tests.helpers.servers import REPO, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]
QUICK = ["--dataset", "mnist", "--model", "linear", "--optimizer", "adam", "--epochs", "2", "--batch-size", "100"]


def mnistlab(lab: Lab | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNISTLAB_")}
    env.update(lab.env() if lab else {})
    return subprocess.run([sys.executable, "-m", "mnistlab.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=180)


def test_submit_follow_prints_progress_and_metrics_and_exits_0(lab: Lab) -> None:
    run = mnistlab(lab, "jobs", "submit", *QUICK, "--seed", "3", "--follow")
    assert run.returncode == 0, run.stderr
    assert "job" in run.stdout and "metrics" in run.stdout and "succeeded: best test accuracy" in run.stdout
    assert "epoch 1/2: loss" in run.stderr and "epoch 2/2: loss" in run.stderr  # one plain line an epoch
    assert "\x1b[" not in run.stdout + run.stderr  # not a terminal: no colour, no animation


def test_json_output_reads_back(lab: Lab) -> None:
    submitted = mnistlab(lab, "jobs", "submit", *QUICK, "--seed", "4", "--follow", "--json")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)
    assert job["status"] == "succeeded" and job["seed"] == 4
    shown = json.loads(mnistlab(lab, "jobs", "show", str(job["id"]), "--json").stdout)
    assert shown["id"] == job["id"] and shown["best"] == job["best"]
    metrics = json.loads(mnistlab(lab, "jobs", "metrics", str(job["id"]), "--json").stdout)
    assert [row["epoch"] for row in metrics] == [1, 2]
    listed = json.loads(mnistlab(lab, "jobs", "list", "--status", "succeeded", "--json").stdout)
    assert job["id"] in [row["id"] for row in listed]
    table = mnistlab(lab, "jobs", "list").stdout
    assert any(line.split("│")[1:3] == [f" {job['id']} ".rjust(4), " succeeded "] for line in table.splitlines()
               if line.count("│") > 3)
    events = [json.loads(line) for line in mnistlab(lab, "jobs", "follow", str(job["id"]), "--json").stdout.splitlines()]
    assert [e["id"] for e in events if e["event"] == "epoch"] == ["epoch-1", "epoch-2"]
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"


def test_a_failed_job_exits_1_and_a_cancelled_one_2(lab: Lab) -> None:
    listed = json.loads(mnistlab(lab, "jobs", "list", "--limit", "1", "--json").stdout)
    next_id = listed[0]["id"] + 1 if listed else 1
    from models_store import checkpoints

    corrupt = checkpoints.checkpoint_path(lab.settings.checkpoint_dir, next_id, "last")
    corrupt.parent.mkdir(parents=True, exist_ok=True)
    corrupt.write_bytes(b"not a checkpoint")
    failed = mnistlab(lab, "jobs", "submit", *QUICK, "--follow")
    assert failed.returncode == 1 and f"job {next_id} failed: UnpicklingError" in failed.stdout

    submitted = json.loads(mnistlab(lab, "jobs", "submit", *QUICK, "--epochs", "200", "--json").stdout)
    follower = subprocess.Popen([sys.executable, "-m", "mnistlab.cli", "jobs", "follow", str(submitted["id"])],
                                env={**os.environ, **lab.env()}, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    assert follower.stderr is not None
    assert "epoch 1/200" in follower.stderr.readline()  # following a running job
    assert mnistlab(lab, "jobs", "cancel", str(submitted["id"])).returncode == 0
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 2, err
    assert f"job {submitted['id']} cancelled" in out


def test_ctrl_c_while_following_leaves_the_job_running(lab: Lab) -> None:
    # Ctrl-C as a terminal sends it: SIGINT acted upon even when the suite itself runs in the background
    # (a shell starts background jobs with SIGINT ignored, and children inherit that).
    follower = subprocess.Popen([sys.executable, "-m", "mnistlab.cli", "jobs", "submit", *QUICK, "--epochs", "200",
                                 "--follow"], env={**os.environ, **lab.env()}, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert follower.stderr is not None
    first = follower.stderr.readline()
    job_id = int(first.split()[1])  # "job N epoch 1/200: ..."
    follower.send_signal(signal.SIGINT)
    _, err = follower.communicate(timeout=30)
    assert follower.returncode == 130
    assert f"job {job_id} goes on on the server. Follow it again: mnistlab jobs follow {job_id}" in err
    shown = json.loads(mnistlab(lab, "jobs", "show", str(job_id), "--json").stdout)
    assert shown["status"] == "running"
    mnistlab(lab, "jobs", "cancel", str(job_id))
    wait_for(lambda: json.loads(mnistlab(lab, "jobs", "show", str(job_id), "--json").stdout)["status"] == "cancelled",
             timeout=60, what="the job to stop", interval=0.5)


def test_predict_models_and_checkpoint(lab: Lab, small_data_dir: Path, tmp_path: Path) -> None:
    split = load_split(small_data_dir, "mnist", train=False)
    files = []
    for index in range(3):
        files.append(tmp_path / f"digit-{index}.png")
        dataset_image(split.images[index, 0].numpy()).save(files[-1])
    run = mnistlab(lab, "predict", *map(str, files), "--top-k", "2", "--json")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert [p["label"] for p in answer["predictions"]] == split.labels[:3].tolist()
    assert all(len(p["top_k"]) == 2 for p in answer["predictions"]) and answer["model"]["job_id"] is None
    table = mnistlab(lab, "predict", str(files[0]), "--dataset", "fashion-mnist").stdout
    assert "digit-0.png" in table and "fashion-mnist" in table

    job = json.loads(mnistlab(lab, "jobs", "submit", *QUICK, "--follow", "--json").stdout)
    promoted = json.loads(mnistlab(lab, "models", "promote", str(job["id"]), "--json").stdout)
    assert promoted["job_id"] == job["id"]
    assert json.loads(mnistlab(lab, "models", "list", "--json").stdout)["defaults"]["mnist"]["job_id"] == job["id"]
    assert json.loads(mnistlab(lab, "models", "reset", "mnist", "--json").stdout)["job_id"] is None
    saved = mnistlab(lab, "jobs", "checkpoint", str(job["id"]), "-o", str(tmp_path / "model.pt"))
    assert saved.returncode == 0 and "wrote" in saved.stdout
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epoch"] == job["best"]["epoch"]
    exported = mnistlab(lab, "jobs", "export", str(job["id"]), "--format", "onnx", "-o", str(tmp_path / "model.onnx"))
    assert exported.returncode == 0
    assert [o.name for o in onnx.load(tmp_path / "model.onnx").graph.output] == ["logits", "probabilities"]
    default = mnistlab(lab, "models", "export", "mnist", "-o", str(tmp_path))
    assert default.returncode == 0 and "mnistlab-mnist-shipped-epoch-" in default.stdout


def test_sweeps_from_a_spec_file(lab: Lab, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps({"name": "cli-grid", "base": {"dataset": "mnist", "model": "linear",
                                                            "optimizer": "adam", "epochs": 1, "batch_size": 100},
                                "grid": {"seed": [1, 2]}}))
    run = mnistlab(lab, "sweeps", "start", str(spec), "--follow", "--json")
    assert run.returncode == 0, run.stderr
    sweep = json.loads(run.stdout)
    assert sweep["status"] == "finished" and len(sweep["leaderboard"]) == 2
    shown = mnistlab(lab, "sweeps", "show", str(sweep["id"]))
    assert "cli-grid" in shown.stdout and f"mnistlab models promote {sweep['best_job_id']}" in shown.stdout
    assert sweep["id"] in [row["id"] for row in json.loads(mnistlab(lab, "sweeps", "list", "--json").stdout)]


def test_bad_arguments_refusals_and_no_server_have_their_own_exit_codes(lab: Lab, tmp_path: Path) -> None:
    usage = mnistlab(lab, "jobs", "submit", "--dataset", "mnist", "--model", "cnn", "--optimizer", "adam",
                     "--epochs", "three")
    assert usage.returncode == 64 and "argument --epochs: invalid int value: 'three'" in usage.stderr
    refused = mnistlab(lab, "jobs", "submit", "--dataset", "cifar10", "--model", "cnn", "--optimizer", "adam")
    assert refused.returncode == 3 and "the server refused: dataset: " in refused.stderr and "(HTTP 422)" in refused.stderr
    missing = mnistlab(lab, "jobs", "show", "987654")
    assert missing.returncode == 3 and "987654" in missing.stderr and "(HTTP 404)" in missing.stderr
    no_file = mnistlab(lab, "predict", str(tmp_path / "absent.png"))
    assert no_file.returncode == 64 and "absent.png" in no_file.stderr
    wrong_key = mnistlab(lab, "jobs", "list", "--api-key", "nope")
    assert wrong_key.returncode == 3 and "(HTTP 401)" in wrong_key.stderr
    url = f"http://127.0.0.1:{free_port()}"
    down = mnistlab(None, "jobs", "list", "--url", url)
    assert down.returncode == 4 and f"no server is answering at {url}" in down.stderr
