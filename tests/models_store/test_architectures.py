import pytest
import torch

from models_store.architectures import (
    build_model,
    count_parameters,
    initial_model,
    initial_weights_hash,
)


@pytest.mark.parametrize(("model", "hidden", "expected"), [("linear", None, 7_850), ("ffnn", None, 101_770),
                                                           ("ffnn", 32, 25_450), ("cnn", None, 5_994),
                                                           ("convnet", None, 70_330)])
def test_parameter_counts_match_the_lab(model: str, hidden: int | None, expected: int) -> None:
    assert count_parameters(build_model(model, hidden=hidden)) == expected


@pytest.mark.parametrize("model", ["linear", "ffnn", "cnn", "convnet"])
def test_each_model_maps_a_batch_of_images_to_ten_logits(model: str) -> None:
    assert build_model(model)(torch.rand(5, 1, 28, 28)).shape == (5, 10)


def test_same_seed_same_initial_weights_whatever_the_global_rng() -> None:
    first = initial_model("cnn", hidden=None, seed=7)
    torch.manual_seed(12345)
    torch.rand(100)
    second = initial_model("cnn", hidden=None, seed=7)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert initial_weights_hash("cnn", None, 7) != initial_weights_hash("cnn", None, 8)


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")


def test_the_convnet_is_what_its_name_promises() -> None:
    """Conv + batch norm + ReLU blocks, pooling, global average pooling and dropout, under 300k parameters."""
    layers = list(build_model("convnet"))
    kinds = [type(layer) for layer in layers]
    convolutions = [i for i, kind in enumerate(kinds) if kind is torch.nn.Conv2d]
    assert len(convolutions) >= 4
    for i in convolutions:
        assert kinds[i + 1:i + 3] == [torch.nn.BatchNorm2d, torch.nn.ReLU]
    assert torch.nn.MaxPool2d in kinds and torch.nn.AdaptiveAvgPool2d in kinds and torch.nn.Dropout in kinds
    assert count_parameters(build_model("convnet")) <= 300_000


@pytest.mark.slow  # it exports to ONNX over and over for seconds, while the request threads make their models
def test_initial_weights_are_the_seeds_own_while_other_threads_seed_and_export() -> None:
    """An API process makes initial models (a job's init_hash) in request threads while a background thread
    exports a model to ONNX: every model must still be its seed's alone, and no call may fail."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from mnistlab.datasets import DATASETS
    from models_store.architectures import weights_hash
    from models_store.onnx_export import to_onnx

    expected = {seed: weights_hash(initial_model("ffnn", hidden=32, seed=seed)) for seed in range(40)}
    exporting = threading.Event()

    def export_until_done() -> None:
        while not exporting.is_set():
            to_onnx(initial_model("cnn", hidden=None, seed=0).eval(), dataset="mnist", architecture="cnn",
                    class_names=DATASETS["mnist"].class_names, job_id=None, epoch=0, test_accuracy=None)

    exporter = threading.Thread(target=export_until_done)
    exporter.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(3):
                found = dict(zip(expected, pool.map(
                    lambda seed: weights_hash(initial_model("ffnn", hidden=32, seed=seed)), expected)))
                assert found == expected
    finally:
        exporting.set()
        exporter.join()
