"""Data augmentation of whole training batches on the job's device: random affine, flips and erasing.

One `affine_grid`/`grid_sample` call moves a whole batch (rotation, scale, translation and a horizontal flip
folded into one 2x3 matrix per image), and erasing is a mask built by comparisons, so nothing loops over
images in Python. The random draws come from a generator seeded by (job seed, epoch, batch): a batch is
augmented the same way whenever it is trained, so a job resumed mid-epoch stays bit-identical to one never
interrupted, with no augmentation state to save.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch.nn import functional

# Random erasing's rectangle, as torchvision's RandomErasing draws it: a share of the image, an aspect ratio.
ERASE_AREA = (0.02, 0.25)
ERASE_LOG_RATIO = (math.log(0.3), math.log(1 / 0.3))


def batch_seed(seed: int, epoch: int, step: int) -> int:
    """The seed of one batch's random draws: a function of where the batch is, not of what ran before it."""
    return ((seed * 1_000_003 + epoch) * 1_000_033 + step) % (2**63 - 1)


def batch_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(batch_seed(seed, epoch, step))


def is_identity(augmentation: Mapping[str, float] | None) -> bool:
    return not augmentation or not any(augmentation.values())


def augment(images: torch.Tensor, augmentation: Mapping[str, float], generator: torch.Generator) -> torch.Tensor:
    """images: N x 1 x H x W in [0, 1], background 0 -> a new batch, each image moved and erased at random.

    augmentation: `rotation` (degrees, uniform in +-), `scale` (uniform in 1 +- it), `translation` (a share of
    the side, uniform in +- on each axis), `flip` (probability of a horizontal flip), `erasing` (probability
    of one rectangle set to 0)."""
    n = len(images)
    # Drawn on the CPU from a CPU generator, whatever the device: the same numbers on every device.
    draws = torch.rand(n, 10, generator=generator).to(images.device)
    uniform = draws * 2 - 1  # in [-1, 1)
    rotation, scale, translation = (augmentation.get(k, 0.0) for k in ("rotation", "scale", "translation"))
    flip, erasing = augmentation.get("flip", 0.0), augmentation.get("erasing", 0.0)
    out = images
    if rotation or scale or translation or flip:
        angle = uniform[:, 0] * math.radians(rotation)
        zoom = 1 + uniform[:, 1] * scale
        mirror = torch.where(draws[:, 4] < flip, -1.0, 1.0)
        # affine_grid maps output coordinates to input ones, in [-1, 1]: the inverse of the motion we want.
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([
            torch.stack([cos * mirror, -sin, uniform[:, 2] * 2 * translation], dim=1),
            torch.stack([sin * mirror, cos, uniform[:, 3] * 2 * translation], dim=1),
        ], dim=1)
        grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
        out = functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if erasing:
        out = _erase(out, draws[:, 5:10], erasing)
    return out


def _erase(images: torch.Tensor, draws: torch.Tensor, probability: float) -> torch.Tensor:
    """draws: N x 5 uniform in [0, 1): area, aspect, top, left, whether. Each image, with `probability`, gets one rectangle (2-25% of its area, aspect 0.3-3.3) set to 0."""
    _, _, height, width = images.shape
    area = (ERASE_AREA[0] + draws[:, 0] * (ERASE_AREA[1] - ERASE_AREA[0])) * height * width
    ratio = torch.exp(ERASE_LOG_RATIO[0] + draws[:, 1] * (ERASE_LOG_RATIO[1] - ERASE_LOG_RATIO[0]))
    box_h = torch.sqrt(area * ratio).clamp(1, height)
    box_w = torch.sqrt(area / ratio).clamp(1, width)
    top = draws[:, 2] * (height - box_h)
    left = draws[:, 3] * (width - box_w)
    rows = torch.arange(height, device=images.device, dtype=images.dtype)
    cols = torch.arange(width, device=images.device, dtype=images.dtype)
    inside_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    chosen = (draws[:, 4] < probability)[:, None, None]
    mask = inside_rows[:, :, None] & inside_cols[:, None, :] & chosen
    return images.masked_fill(mask[:, None], 0.0)
