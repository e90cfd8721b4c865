"""GET /metrics: what an operator's Prometheus scrapes, checked against what happened."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mnistlab.settings import Settings
from tests.helpers.images import blank_png
from tests.helpers.postgres import both_databases
from workers.worker import Worker


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


@both_databases
@pytest.mark.datasets
def test_metrics_count_jobs_epochs_predictions_and_requests(client: TestClient, settings: Settings) -> None:
    client.post("/jobs", json={"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 2, "batch_size": 100, "seed": 0})
    assert Worker(settings).run(burst=True) == 1
    client.post("/jobs", json={"dataset": "mnist", "model": "ffnn", "optimizer": "sgd", "epochs": 1})  # stays queued
    client.post("/jobs/1/cancel")  # a 409: it already succeeded
    for _ in range(3):
        assert client.post("/predict", content=blank_png(), headers={"content-type": "image/png"}).status_code == 200
    client.get("/jobs/12345")

    metrics = scrape(client)
    assert metrics[("mnistlab_jobs", (("state", "succeeded"),))] == 1
    assert metrics[("mnistlab_jobs", (("state", "queued"),))] == 1
    assert metrics[("mnistlab_jobs", (("state", "failed"),))] == 0
    assert metrics[("mnistlab_queue_depth", (("device", "auto"),))] == 1
    assert metrics[("mnistlab_workers_live", ())] == 0  # the burst worker has exited
    cpu_linear = (("device", "cpu"), ("model", "linear"))
    assert metrics[("mnistlab_epoch_duration_seconds_count", cpu_linear)] == 2
    assert metrics[("mnistlab_epoch_duration_seconds_sum", cpu_linear)] > 0
    assert metrics[("mnistlab_epoch_duration_seconds_bucket", (*cpu_linear[:1], ("le", "+Inf"), cpu_linear[1]))] == 2
    assert round(metrics[("mnistlab_trained_images_total", cpu_linear)]) == 2 * 6000  # two epochs of the small set
    assert metrics[("mnistlab_training_images_per_second", cpu_linear)] > 0
    assert metrics[("mnistlab_predicted_images_total", (("dataset", "mnist"),))] == 3
    assert metrics[("mnistlab_prediction_duration_seconds_count", (("dataset", "mnist"),))] == 3
    assert metrics[("mnistlab_http_requests_total", (("method", "POST"), ("route", "/predict"), ("status", "200")))] == 3
    assert metrics[("mnistlab_http_requests_total", (("method", "POST"), ("route", "/jobs"), ("status", "201")))] == 2
    assert metrics[("mnistlab_http_requests_total",
                    (("method", "POST"), ("route", "/jobs/{job_id}/cancel"), ("status", "409")))] == 1
    assert metrics[("mnistlab_http_requests_total",
                    (("method", "GET"), ("route", "/jobs/{job_id}"), ("status", "404")))] == 1


def test_unknown_paths_share_one_label_so_scanners_cannot_blow_up_the_series(client: TestClient) -> None:
    for path in ("/wp-admin", "/.env", "/a/b/c"):
        assert client.get(path).status_code == 404
    metrics = scrape(client)
    assert metrics[("mnistlab_http_requests_total", (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 3
