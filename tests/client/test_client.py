"""mnistlab.client against a real server over HTTP: jobs, events, predictions, models, sweeps, errors."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from mnistlab.client import (
    ApiError,
    Client,
    JobCancelled,
    JobFailed,
    Metric,
    ServerUnavailable,
    WaitTimeout,
)
from mnistlab.datasets import load_split
from models_store import checkpoints
from models_store.architectures import build_model
from tests.client.conftest import Lab
from tests.helpers.images import dataset_image, encode
from tests.helpers.jobs import QUICK_JOB
from tests.helpers.ports import free_port
from tests.helpers.proxy import CuttableProxy
from tests.helpers.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.datasets]
CNN_JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "batch_size": 128, "seed": 1}


def test_importing_the_client_does_not_import_torch() -> None:
    code = "import sys, mnistlab.client; print(sorted({'torch', 'numpy', 'pydantic'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_submit_wait_and_read_a_job(lab: Lab) -> None:
    with lab.client() as client:
        job = client.submit(**QUICK_JOB, idempotency_key="client-quick")
        assert job.status == "queued" and job.dataset == "mnist" and isinstance(job.created_at, datetime)
        assert job.wait(timeout=120) is job and job.status == "succeeded"
        metrics = job.metrics()
        assert [m.epoch for m in metrics] == [1, 2] and all(isinstance(m, Metric) for m in metrics)
        assert job.best["test_accuracy"] == max(m.test_accuracy for m in metrics) > 0.8
        # The same idempotency key gives the same job back, not a second one.
        assert client.submit(**QUICK_JOB, idempotency_key="client-quick").id == job.id
        assert job.id in [listed.id for listed in client.jobs(status="succeeded")]
        assert client.job(job.id).finished_at >= client.job(job.id).started_at


def test_events_resume_after_a_dropped_connection_without_losing_or_repeating_an_epoch(lab: Lab) -> None:
    proxy = CuttableProxy(int(lab.url.rsplit(":", 1)[1]))
    try:
        with lab.client(url=proxy.url) as client:
            job = client.submit(**CNN_JOB, epochs=4)
            seen: list[tuple[str, int | None]] = []
            for event in job.events():
                seen.append((event.kind, event.data.get("epoch")))
                if event.kind == "epoch" and event.data["epoch"] == 1:
                    proxy.cut()  # the stream dies mid-job; the client must reconnect and carry on
            epochs = [epoch for kind, epoch in seen if kind == "epoch"]
            assert epochs == [1, 2, 3, 4]
            assert seen[-1][0] == "status" and job.refresh().status == "succeeded"
        streams = [chunk for chunk in proxy.sent if chunk.startswith(f"GET /jobs/{job.id}/events".encode())]
        assert len(streams) >= 2, "the connection was never dropped and resumed"
        assert b"last-event-id: epoch-1" in streams[1].lower()
    finally:
        proxy.close()


def test_a_failed_job_raises_with_the_servers_message(lab: Lab) -> None:
    with lab.client() as client:
        next_id = client.jobs(limit=1)[0].id + 1
        # A corrupt "last" checkpoint for the next job: the worker's resume from it fails inside torch.load.
        path = checkpoints.checkpoint_path(lab.settings.checkpoint_dir, next_id, "last")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a checkpoint")
        job = client.submit(**QUICK_JOB)
        assert job.id == next_id
        with pytest.raises(JobFailed) as failure:
            job.wait(timeout=120)
    assert failure.value.job.status == "failed"
    assert failure.value.detail == f"job {job.id} failed: {failure.value.job.error}"
    assert "UnpicklingError" in failure.value.detail


def test_a_cancelled_job_raises_and_a_wait_can_time_out(lab: Lab) -> None:
    with lab.client() as client:
        job = client.submit(**CNN_JOB, epochs=50)
        with pytest.raises(WaitTimeout):
            job.wait(timeout=0.5)
        wait_for(lambda: job.refresh().status == "running", timeout=60, what="the job to start")
        assert job.cancel().status == "running"  # it stops at its next batch
        with pytest.raises(JobCancelled) as cancelled:
            job.wait(timeout=60)
    assert cancelled.value.job.status == "cancelled" and f"job {job.id} cancelled" in str(cancelled.value)


def test_predict_takes_paths_bytes_pil_images_and_arrays_and_agrees(lab: Lab, small_data_dir: Path,
                                                                   tmp_path: Path) -> None:
    split = load_split(small_data_dir, "mnist", train=False)
    pixels = np.round(split.images[:70, 0].numpy() * 255).astype(np.uint8)
    truth = split.labels[:70].tolist()
    pngs = [encode(dataset_image(image / 255)) for image in pixels]
    paths = []
    for index, png in enumerate(pngs[:5]):
        paths.append(tmp_path / f"digit-{index}.png")
        paths[-1].write_bytes(png)
    with lab.client() as client:
        from_bytes = client.predict(pngs)  # 70 files: more than one request's 64
        assert len(from_bytes) == 70 and from_bytes.model.job_id is None and from_bytes.model.dataset == "mnist"
        assert sum(p == t for p, t in zip(from_bytes.labels, truth, strict=True)) >= 68
        from_paths = client.predict(paths, top_k=2)
        assert [p.filename for p in from_paths] == [f"digit-{i}.png" for i in range(5)]
        assert all(len(p.top_k) == 2 and p.top_k[0].label == p.label for p in from_paths)
        from_pil = client.predict([Image.open(io.BytesIO(png)) for png in pngs[:5]])
        from_uint8 = client.predict(pixels)
        from_floats = client.predict(pixels.astype(np.float32) / 255)
        assert from_uint8.labels == from_floats.labels == from_bytes.labels
        assert from_paths.labels == from_pil.labels == from_bytes.labels[:5]
        assert from_uint8[3].filename == "images[3]" and from_uint8.model.epoch == from_bytes.model.epoch
        np.testing.assert_allclose([p.confidence for p in from_uint8], [p.confidence for p in from_bytes],
                                   atol=1e-5)
        many = client.predict(np.zeros((1100, 28, 28), np.uint8), dataset="fashion-mnist")  # two tensors
        assert len(many) == 1100 and many.model.dataset == "fashion-mnist"


def test_checkpoint_download_promote_and_reset(lab: Lab, tmp_path: Path) -> None:
    with lab.client() as client:
        job = client.submit(**{**QUICK_JOB, "seed": 5}).wait(timeout=120)
        saved = job.download_checkpoint(tmp_path)  # a folder: the server's file name
        assert saved.name == f"mnistlab-job-{job.id}-best-epoch-{job.best['epoch']}.pt"
        payload = torch.load(saved, weights_only=True)
        build_model("linear").load_state_dict(payload["model"])
        last = job.download_checkpoint(tmp_path / "last.pt", which="last")
        assert torch.load(last, weights_only=True)["epoch"] == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([saved.name, "last.pt"])  # no temp files
        exported = job.export(tmp_path / "linear.onnx")
        session = onnxruntime.InferenceSession(exported.read_bytes(), providers=["CPUExecutionProvider"])
        (probabilities,) = session.run(["probabilities"], {"images": np.zeros((3, 1, 28, 28), np.float32)})
        assert probabilities.shape == (3, 10) and np.allclose(probabilities.sum(1), 1)
        shipped = client.export_model("fashion-mnist", tmp_path)
        assert shipped.name.startswith("mnistlab-fashion-mnist-shipped-epoch-") and shipped.suffix == ".onnx"
        (tmp_path / "linear.onnx").unlink()
        shipped.unlink()

        promoted = job.promote()
        assert promoted.job_id == job.id and client.models().defaults["mnist"].job_id == job.id
        assert client.predict(np.zeros((1, 28, 28), np.uint8)).model.job_id == job.id
        assert client.predict(np.zeros((1, 28, 28), np.uint8), job=job).model.job_id == job.id
        assert job.id in [info.job_id for info in client.models().jobs]
        assert client.reset("mnist").job_id is None and client.models().defaults["mnist"].job_id is None


def test_a_sweep_runs_to_its_leaderboard(lab: Lab) -> None:
    with lab.client() as client:
        sweep = client.sweep(name="client-grid", base=QUICK_JOB, grid={"lr": [0.001, 0.01]})
        assert sweep.planned == 2 and sweep.name == "client-grid"
        assert sweep.wait(timeout=120).status == "finished"
        assert [trial.status for trial in sweep.trials] == ["succeeded", "succeeded"]
        assert sweep.best_job().id == sweep.trials[0].job_id == sweep.best_job_id
        assert sweep.id in [listed.id for listed in client.sweeps()]


def test_errors_carry_the_status_and_the_servers_detail(lab: Lab) -> None:
    with lab.client() as client:
        with pytest.raises(ApiError) as invalid:
            client.submit(dataset="mnist", model="cnn", optimizer="adam", epochs=0)
        assert invalid.value.status == 422 and invalid.value.detail.startswith("epochs: ")
        with pytest.raises(ApiError) as missing:
            client.job(987654)
        assert missing.value.status == 404 and "987654" in missing.value.detail
        with pytest.raises(ApiError) as conflict:
            client.submit(**QUICK_JOB).wait(timeout=120).cancel()
        assert conflict.value.status == 409 and "already ended" in conflict.value.detail
    with lab.client(api_key="wrong") as stranger, pytest.raises(ApiError) as refused:
        stranger.jobs()
    assert refused.value.status == 401 and "MNISTLAB_API_KEY" in refused.value.detail


def test_no_server_is_named_as_such() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url=url) as client, pytest.raises(ServerUnavailable) as unavailable:
        client.jobs()
    assert unavailable.value.url == url and f"no server is answering at {url}" in str(unavailable.value)


def test_url_and_key_default_to_the_environment(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in lab.env().items():
        monkeypatch.setenv(name, value)
    with Client() as client:
        assert client.url == lab.url and isinstance(client.jobs(limit=1), list)
