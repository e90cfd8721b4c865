
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.helpers.images import decode
from tests.helpers.servers import make_settings


def test_dataset_detail_has_the_known_label_counts(data_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(make_settings(tmp_path, data_dir))) as client:
        mnist = client.get("/datasets/mnist").json()
        fashion = client.get("/datasets/fashion-mnist").json()
    assert mnist["on_disk"] and mnist["image_shape"] == [1, 28, 28] and mnist["class_names"][7] == "7"
    assert mnist["train"]["count"] == 60_000 and mnist["test"]["count"] == 10_000
    assert mnist["train"]["label_counts"][1] == 6_742
    assert abs(sum(mnist["train"]["label_proportions"]) - 1) < 1e-9
    assert fashion["train"]["label_counts"] == [6_000] * 10 and fashion["class_names"][9] == "Ankle boot"


@pytest.mark.datasets
def test_dataset_list_says_what_is_on_disk(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    listing = {d["name"]: d for d in client.get("/datasets").json()}
    assert set(listing) == {"mnist", "fashion-mnist"} and listing["mnist"]["on_disk"]
    with TestClient(create_app(make_settings(tmp_path / "empty", tmp_path / "nothing"))) as empty:
        assert empty.get("/datasets/mnist").json()["on_disk"] is False
        response = empty.get("/datasets/mnist/samples.png")
        assert response.status_code == 409 and "mnistlab datasets import" in response.text
    assert client.get("/datasets/cifar").status_code == 422
    assert client.get("/datasets/..%2F..%2Fetc/samples.png").status_code in (404, 422)


@pytest.mark.datasets
def test_samples_png_is_a_grid_of_the_requested_size(client: TestClient) -> None:
    response = client.get("/datasets/fashion-mnist/samples.png?split=test&n=12&seed=3")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = decode(response.content)
    assert image.format == "PNG" and 400 < image.width < 2000 and 200 < image.height < 2000
    assert client.get("/datasets/fashion-mnist/samples.png?seed=3").content == \
        client.get("/datasets/fashion-mnist/samples.png?seed=3").content


def test_architectures_give_layers_shapes_and_the_labs_parameter_counts(client: TestClient) -> None:
    summaries = {s["model"]: s for s in client.get("/architectures").json()}
    assert {m: s["total_parameters"] for m, s in summaries.items()} == {"linear": 7_850, "ffnn": 101_770, "cnn": 5_994,
                                                                      "convnet": 70_330}
    cnn = summaries["cnn"]["layers"]
    assert [layer["output_shape"] for layer in cnn][:3] == [[8, 24, 24], [8, 24, 24], [8, 12, 12]]
    assert cnn[-1]["output_shape"] == [10] and sum(layer["parameters"] for layer in cnn) == 5_994
    convnet = summaries["convnet"]["layers"]
    assert [layer["output_shape"] for layer in convnet if "MaxPool" in layer["layer"]] == [[16, 14, 14], [32, 7, 7]]
    assert [layer["output_shape"] for layer in convnet[-4:]] == [[64, 1, 1], [64], [64], [10]]  # GAP, dropout
    narrow = {s["model"]: s for s in client.get("/architectures?hidden=32").json()}
    assert narrow["ffnn"]["total_parameters"] == 25_450 and narrow["ffnn"]["hidden"] == 32
