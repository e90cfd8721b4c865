
import io

import numpy as np
import pytest
from PIL import Image
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


@pytest.mark.datasets
def test_a_data_sets_images_by_class_page_by_page_and_one_by_index(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    from mnistlab.datasets import load_split

    test = load_split(settings.datasets_dir, "fashion-mnist", train=False)
    threes = [i for i, label in enumerate(test.labels.tolist()) if label == 3]
    first = client.get("/datasets/fashion-mnist/images?split=test&label=3&limit=10").json()
    assert first == {"split": "test", "label": 3, "count": len(threes), "offset": 0, "indices": threes[:10],
                     "labels": [3] * 10}
    second = client.get("/datasets/fashion-mnist/images?split=test&label=3&offset=10&limit=10").json()
    assert second["indices"] == threes[10:20]
    everything = client.get("/datasets/fashion-mnist/images?split=test&limit=5").json()
    assert everything["count"] == len(test) and everything["labels"] == test.labels[:5].tolist()
    image = client.get(f"/datasets/fashion-mnist/images/{threes[0]}.png?split=test")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert "immutable" in image.headers["cache-control"]
    pixels = np.asarray(Image.open(io.BytesIO(image.content)))
    assert pixels.shape == (28, 28)
    assert np.array_equal(pixels, (test.images[threes[0], 0].numpy() * 255).round().astype(np.uint8))


@pytest.mark.datasets
@pytest.mark.parametrize(("path", "status", "words"), [
    ("/datasets/mnist/images/1000.png?split=test", 404, "mnist test has 1,000 images (0-999): index 1000 is past"),
    ("/datasets/mnist/images/-1.png", 422, "index"),
    ("/datasets/mnist/images?label=10", 422, "label"),
    ("/datasets/mnist/images?split=test&label=3&offset=5000", 404, "offset 5000 is past the"),
    ("/datasets/emnist/images", 422, "mnist"),
    ("/datasets/mnist/images?split=validation", 422, "split"),
])
def test_an_image_that_is_not_there_is_named(client: TestClient, path: str, status: int, words: str) -> None:
    response = client.get(path)
    assert response.status_code == status and words in response.text, response.text
