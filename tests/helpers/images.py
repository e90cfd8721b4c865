"""Images for tests: data-set images as the files people upload (PNGs, photos of paper, drawings), and back."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def dataset_image(array: np.ndarray) -> Image.Image:
    """A data-set image (28x28 floats in [0, 1]) as an 8-bit grayscale picture."""
    return Image.fromarray(np.round(np.asarray(array) * 255).astype(np.uint8))


def as_paper_photo(array: np.ndarray, *, scale: int = 5, canvas: tuple[int, int] = (260, 200),
                   at: tuple[int, int] = (30, 20), paper: int = 235) -> Image.Image:
    """Dark ink on off-white paper, enlarged and off-centre, in RGB."""
    ink = np.round(np.asarray(array) * 255).astype(np.uint8)
    big = Image.fromarray(ink).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    page = np.full((canvas[1], canvas[0]), 0, dtype=np.uint8)
    page[at[1]:at[1] + 28 * scale, at[0]:at[0] + 28 * scale] = np.asarray(big)
    photo = paper - (page.astype(np.float32) * paper / 255)
    return Image.fromarray(np.round(photo).astype(np.uint8)).convert("RGB")


def as_transparent_drawing(array: np.ndarray, *, scale: int = 4) -> Image.Image:
    """Black strokes on a transparent background (what a canvas exports), RGBA."""
    alpha = Image.fromarray(np.round(np.asarray(array) * 255).astype(np.uint8)).resize(
        (28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    rgba = Image.new("RGBA", alpha.size, (0, 0, 0, 0))
    rgba.putalpha(alpha)
    return rgba


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(array: np.ndarray) -> bytes:
    """A data-set image (28x28 floats in [0, 1]) as the PNG file a user would upload."""
    return encode(dataset_image(array))


def blank_png(side: int = 28) -> bytes:
    return png(np.zeros((side, side), dtype=np.float32))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
