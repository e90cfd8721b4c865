from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.datasets import load_split
from service.errors import PayloadTooLarge, UnsupportedMediaType
from service.imaging import BadImage, decode, to_dataset_form
from tests.helpers.images import (
    as_paper_photo,
    as_transparent_drawing,
    dataset_image,
    encode,
)

MAX_PIXELS = 40_000_000


@pytest.fixture(scope="module")
def digits(small_data_dir: Path) -> np.ndarray:
    return load_split(small_data_dir, "mnist", train=False).images[:20, 0].numpy()


def _roundtrip(image: Image.Image, dataset: str = "mnist", fmt: str = "PNG") -> np.ndarray:
    return to_dataset_form(decode(encode(image, fmt), max_pixels=MAX_PIXELS), dataset)


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_an_image_already_in_dataset_form_passes_through_unchanged(digits: np.ndarray) -> None:
    original = np.round(digits[0] * 255) / 255
    assert np.array_equal(_roundtrip(dataset_image(digits[0])), original.astype(np.float32))


@pytest.mark.parametrize("make", [as_paper_photo, as_transparent_drawing,
                                  lambda a: as_paper_photo(a, scale=20, canvas=(900, 700), at=(300, 100))])
def test_uploads_are_brought_back_to_what_the_dataset_image_was(digits: np.ndarray, make) -> None:  # type: ignore[no-untyped-def]
    scores = [_similar(_roundtrip(make(d)), d) for d in digits]
    assert np.mean(scores) > 0.85 and min(scores) > 0.6


def test_a_jpeg_photo_still_matches(digits: np.ndarray) -> None:
    scores = [_similar(_roundtrip(as_paper_photo(d), fmt="JPEG"), d) for d in digits]
    assert np.mean(scores) > 0.8


def test_exif_rotation_is_applied(digits: np.ndarray) -> None:
    upright = as_paper_photo(digits[1])
    rotated = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": undoes the counter-clockwise ROTATE_90 above
    fixed = to_dataset_form(decode(encode(rotated, "JPEG", exif=exif), max_pixels=MAX_PIXELS), "mnist")
    plain = to_dataset_form(decode(encode(upright, "JPEG"), max_pixels=MAX_PIXELS), "mnist")
    assert _similar(fixed, plain) > 0.95


def test_fashion_images_fill_the_frame_centred(small_data_dir: Path) -> None:
    items = load_split(small_data_dir, "fashion-mnist", train=False).images[:10, 0].numpy()
    scores = [_similar(_roundtrip(as_paper_photo(item, paper=250), "fashion-mnist"), item) for item in items]
    assert np.mean(scores) > 0.8


def test_a_blank_page_gives_a_blank_image() -> None:
    assert not _roundtrip(Image.new("RGB", (100, 80), "white")).any()


@pytest.mark.parametrize(("data", "error", "message"), [
    (b"", BadImage, "empty"),
    (b"hello, this is not an image", BadImage, "not an image"),
    (encode(Image.new("L", (64, 64), 200))[:60], BadImage, "truncated"),
    (encode(Image.new("L", (8, 8)), "TIFF"), UnsupportedMediaType, "TIFF"),
    (encode(Image.new("1", (8000, 6000))), PayloadTooLarge, "48,000,000 pixels"),
])
def test_bad_files_are_refused_with_a_reason(data: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        decode(data, max_pixels=MAX_PIXELS)
