"""What a model looked at, computed by Captum on the model's PyTorch module (whatever runtime serves it):
Integrated Gradients for every architecture, Grad-CAM on the last convolution where there is one, each
convolution's feature maps, and the first layer's filters (for the linear model: its ten class templates).

The architectures are nn.Sequential (models_store/architectures.py), so layers are found by walking them.
Captum hooks the layers it attributes to: the caller gives each explanation its own copy of the module, so
that another thread's forward pass through the served module never meets those hooks.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import nn

Method = Literal["integrated_gradients", "grad_cam"]
METHODS: tuple[Method, ...] = ("integrated_gradients", "grad_cam")
IG_STEPS = 128  # Gauss-Legendre steps: completeness within 1% on every architecture, trained or not (tests/service/test_explanations.py)
MAX_TEMPLATES = 64  # a hidden layer's units shown as first-layer templates


class Unexplainable(ValueError):
    """The method does not apply to the model (Grad-CAM without a convolution)."""


@dataclass(frozen=True)
class Attribution:
    values: np.ndarray  # 28 x 28, for the predicted class
    convergence_delta: float | None  # Integrated Gradients: sum(attributions) - (f(x) - f(baseline))
    layer: str | None  # Grad-CAM: the layer it was taken at


@dataclass(frozen=True)
class FeatureMaps:
    layer: str
    maps: np.ndarray  # channels x h x w, after the convolution's activation


def describe_layer(module: nn.Sequential, index: int) -> str:
    return f"{index}: {module[index]}"


def _convolutions(module: nn.Sequential) -> list[int]:
    return [i for i, layer in enumerate(module) if isinstance(layer, nn.Conv2d)]


def _activation_after(module: nn.Sequential, conv: int) -> int:
    """The index of the ReLU that follows a convolution (its feature maps as the next layer sees them)."""
    for index in range(conv + 1, len(module)):
        if isinstance(module[index], nn.ReLU):
            return index
        if isinstance(module[index], nn.Conv2d):
            break
    return conv


def feature_map_layers(module: nn.Sequential) -> list[int]:
    return [_activation_after(module, conv) for conv in _convolutions(module)]


def applicable_methods(module: nn.Sequential) -> list[Method]:
    return [method for method in METHODS if method != "grad_cam" or _convolutions(module)]


def check_method(module: nn.Sequential, model_name: str, method: Method) -> None:
    if method == "grad_cam" and not _convolutions(module):
        raise Unexplainable(f"grad_cam needs a convolution, and model {model_name!r} has none; "
                            "integrated_gradients explains every model")


def integrated_gradients(module: nn.Sequential, images: torch.Tensor, targets: torch.Tensor) -> list[Attribution]:
    from captum.attr import IntegratedGradients

    explainer = IntegratedGradients(module)
    values, delta = explainer.attribute(images, baselines=torch.zeros_like(images), target=targets, n_steps=IG_STEPS,
                                        return_convergence_delta=True)
    return [Attribution(values=v[0].detach().numpy(), convergence_delta=float(d), layer=None)
            for v, d in zip(values, delta)]


def grad_cam(module: nn.Sequential, images: torch.Tensor, targets: torch.Tensor) -> list[Attribution]:
    from captum.attr import LayerAttribution, LayerGradCam

    last = _convolutions(module)[-1]
    layer = _activation_after(module, last)  # the last convolution's maps, as the next layer sees them
    cam = LayerGradCam(module, module[layer]).attribute(images, target=targets, relu_attributions=True)
    upsampled = LayerAttribution.interpolate(cam, tuple(images.shape[-2:]), interpolate_mode="bilinear")
    name = describe_layer(module, last)
    return [Attribution(values=v[0].detach().numpy(), convergence_delta=None, layer=name) for v in upsampled]


def feature_maps(module: nn.Sequential, images: torch.Tensor) -> list[list[FeatureMaps]]:
    """Per image, each convolution's maps (after its activation), in the order of the layers. The layers
    are run one by one (no hooks: another thread may be running the same module)."""
    wanted = dict(zip(feature_map_layers(module), _convolutions(module)))
    captured: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        x = images
        for index, layer in enumerate(module):
            x = layer(x)
            if index in wanted:
                captured[index] = x.float().clone()
    return [[FeatureMaps(layer=describe_layer(module, wanted[i]), maps=captured[i][n].numpy()) for i in wanted]
            for n in range(len(images))]


@dataclass(frozen=True)
class Filters:
    kind: Literal["convolution", "class_templates", "unit_templates"]
    layer: str
    weights: np.ndarray  # filters x h x w


def first_layer_filters(module: nn.Sequential) -> Filters:
    """The first convolution's kernels; for a model without one, its first linear layer's rows as 28x28
    images (the linear model's ten class templates; a hidden layer's first units)."""
    for index, layer in enumerate(module):
        if isinstance(layer, nn.Conv2d):
            weights = layer.weight.detach()[:, 0].float().numpy()
            return Filters(kind="convolution", layer=describe_layer(module, index), weights=weights)
        if isinstance(layer, nn.Linear):
            rows = layer.weight.detach().float().numpy()
            kind = "class_templates" if rows.shape[0] == 10 and index == len(module) - 1 else "unit_templates"
            return Filters(kind=kind, layer=describe_layer(module, index),
                           weights=rows[:MAX_TEMPLATES].reshape(-1, 28, 28))
    raise Unexplainable("the model has no convolution or linear layer")


# --- pictures ------------------------------------------------------------------------------------------


def _png_base64(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _diverging(values: np.ndarray, scale: float) -> np.ndarray:
    """Signed values as colours: red positive, blue negative, white zero; scale maps to full colour."""
    share = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    rgb = np.full(values.shape + (3,), 255.0)
    rgb[..., 1] -= 255 * np.abs(share)
    rgb[..., 2] -= 255 * np.clip(share, 0, None)
    rgb[..., 0] -= 255 * np.clip(-share, 0, None)
    return rgb


def overlay_png(image: np.ndarray, attribution: np.ndarray) -> str:
    """The 28x28 image (grey) under its attribution map (red: for the class, blue: against)."""
    scale = float(np.abs(attribution).max())
    share = np.clip(attribution / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(attribution)
    grey = np.repeat((image * 160)[..., None], 3, axis=2)
    colour = np.zeros_like(grey)
    colour[..., 0] = 255 * (share > 0)
    colour[..., 2] = 255 * (share < 0)
    alpha = np.abs(share)[..., None]
    return _png_base64(grey * (1 - alpha) + colour * alpha)


def grid_png(tiles: np.ndarray, *, signed: bool) -> str:
    """Tiles (n x h x w) side by side in rows of up to 8, one pixel apart: maps in grey (each layer's
    own maximum), weights in red and blue (each tile's own scale)."""
    count, height, width = tiles.shape
    columns = min(count, 8)
    rows = -(-count // columns)
    canvas = np.full(((height + 1) * rows - 1, (width + 1) * columns - 1, 3), 255.0 if signed else 40.0)
    peak = float(tiles.max()) if not signed else 0.0
    for n, tile in enumerate(tiles):
        top, left = (n // columns) * (height + 1), (n % columns) * (width + 1)
        if signed:
            canvas[top:top + height, left:left + width] = _diverging(tile, float(np.abs(tile).max()))
        else:
            grey = np.clip(tile / peak, 0, 1) * 255 if peak > 0 else np.zeros_like(tile)
            canvas[top:top + height, left:left + width] = grey[..., None]
    return _png_base64(canvas)
