"""Explanations by Captum on every architecture: Integrated Gradients is complete (its attributions add up to
the output's change from the black image, within 1%), Grad-CAM and the feature maps have the layers'
shapes, the first-layer filters are the weights themselves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnistlab.datasets import load_split
from mnistlab.spec import ARCHITECTURES
from models_store.architectures import build_model, initial_model
from models_store.shipped import load_shipped
from models_store.summary import summarize
from service import explanations

pytestmark = pytest.mark.datasets


def _model(name: str) -> nn.Sequential:
    """The shipped convnet (trained, confident), the lab's models as a job starts them (seeded)."""
    if name == "convnet":
        shipped = load_shipped("mnist")
        module = build_model(shipped.model)
        module.load_state_dict(shipped.weights)
        return module.eval()
    return initial_model(name, hidden=64 if name == "ffnn" else None, seed=0).eval()


@pytest.fixture(scope="module")
def images(small_data_dir) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    test = load_split(small_data_dir, "mnist", train=False)
    return test.images[:8], test.labels[:8]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_integrated_gradients_add_up_to_the_change_of_the_output_within_one_percent(name: str, images) -> None:  # type: ignore[no-untyped-def]
    module = _model(name)
    x, _ = images
    with torch.no_grad():
        targets = module(x).argmax(dim=1)
        change = (module(x) - module(torch.zeros_like(x)))[torch.arange(len(x)), targets]
    found = explanations.integrated_gradients(module, x, targets)
    for attribution, expected in zip(found, change.tolist()):
        assert attribution.values.shape == (28, 28)
        total = float(attribution.values.sum())
        assert abs(total - expected) <= 0.01 * abs(expected), (name, total, expected)
        # Captum's own measure of the same thing, as the API reports it
        assert attribution.convergence_delta == pytest.approx(total - expected, abs=1e-4 + 1e-3 * abs(expected))


@pytest.mark.parametrize("name", [name for name in ARCHITECTURES if name in ("cnn", "convnet")])
def test_grad_cam_and_the_feature_maps_have_the_shapes_of_the_models_layers(name: str, images) -> None:  # type: ignore[no-untyped-def]
    module = _model(name)
    x, _ = images
    targets = torch.zeros(len(x), dtype=torch.long)
    cams = explanations.grad_cam(module, x, targets)
    convolutions = [i for i, layer in enumerate(module) if isinstance(layer, nn.Conv2d)]
    assert all(cam.values.shape == (28, 28) and cam.values.min() >= 0 for cam in cams)  # ReLU'd, upsampled
    assert cams[0].layer == f"{convolutions[-1]}: {module[convolutions[-1]]}"
    shapes = {layer["index"]: layer["output_shape"] for layer in summarize(name)["layers"]}
    maps = explanations.feature_maps(module, x)
    assert len(maps) == len(x)
    for per_image in maps:
        assert [m.layer for m in per_image] == [f"{i}: {module[i]}" for i in convolutions]
        assert [list(m.maps.shape) for m in per_image] == [shapes[i] for i in convolutions]
        assert all(m.maps.min() >= 0 for m in per_image)  # after the activation


@pytest.mark.parametrize("name", ["linear", "ffnn"])
def test_grad_cam_on_a_model_without_convolutions_is_refused_by_name(name: str) -> None:
    with pytest.raises(explanations.Unexplainable, match=f"grad_cam needs a convolution, and model '{name}'"):
        explanations.check_method(_model(name), name, "grad_cam")
    explanations.check_method(_model(name), name, "integrated_gradients")


def test_first_layer_filters_are_the_weights_the_linear_models_are_its_class_templates() -> None:
    linear = _model("linear")
    templates = explanations.first_layer_filters(linear)
    assert templates.kind == "class_templates" and templates.weights.shape == (10, 28, 28)
    assert torch.equal(torch.from_numpy(templates.weights).reshape(10, -1), linear[1].weight.detach())
    cnn = _model("cnn")
    kernels = explanations.first_layer_filters(cnn)
    assert kernels.kind == "convolution" and kernels.weights.shape == (8, 5, 5)
    assert torch.equal(torch.from_numpy(kernels.weights), cnn[0].weight.detach()[:, 0])
    units = explanations.first_layer_filters(_model("ffnn"))
    assert units.kind == "unit_templates" and units.weights.shape == (64, 28, 28)
