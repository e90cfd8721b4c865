"""Augmentation of whole batches: what each transform does to an image, and its draws are reproducible."""

from __future__ import annotations

import torch

from workers.augmentation import augment, batch_generator


def _images() -> torch.Tensor:
    images = torch.zeros(8, 1, 28, 28)
    images[:, :, 6:22, 4:12] = 1.0  # a bar left of centre: a flip or a shift moves it
    return images


def test_the_same_batch_position_draws_the_same_changes_and_another_position_others() -> None:
    everything = {"rotation": 15.0, "scale": 0.1, "translation": 0.1, "flip": 0.5, "erasing": 0.5}
    first = augment(_images(), everything, batch_generator(seed=1, epoch=2, step=3))
    again = augment(_images(), everything, batch_generator(seed=1, epoch=2, step=3))
    assert torch.equal(first, again)
    for other in (batch_generator(1, 2, 4), batch_generator(1, 3, 3), batch_generator(2, 2, 3)):
        assert not torch.equal(first, augment(_images(), everything, other))
    assert not torch.equal(first, _images())


def test_a_certain_flip_mirrors_every_image_exactly() -> None:
    flipped = augment(_images(), {"flip": 1.0}, batch_generator(0, 0, 0))
    torch.testing.assert_close(flipped, _images().flip(-1), atol=1e-5, rtol=0)  # float rounding of the grid


def test_rotation_and_scale_keep_the_figure_in_the_frame_and_the_background_black() -> None:
    moved = augment(_images(), {"rotation": 30.0, "scale": 0.2}, batch_generator(0, 0, 0))
    assert moved.min() >= 0 and moved.max() <= 1
    assert (moved[:, :, :2, :] == 0).all() and (moved[:, :, :, -2:] == 0).all()  # nothing wraps round
    mass = moved.sum(dim=(1, 2, 3))
    original = _images().sum(dim=(1, 2, 3))
    assert ((mass > 0.6 * original) & (mass < 1.5 * original)).all()  # at most 20% bigger or smaller per side


def test_translation_moves_the_figure_by_at_most_its_share_of_the_side() -> None:
    moved = augment(_images(), {"translation": 0.1}, batch_generator(0, 0, 0))
    columns = torch.arange(28, dtype=torch.float32)
    centre = (moved.sum(dim=(1, 2)) * columns).sum(dim=1) / moved.sum(dim=(1, 2, 3))
    assert ((centre - 7.5).abs() <= 2.8 + 1e-4).all()  # 10% of 28 pixels
    assert (centre - 7.5).abs().max() > 0.5  # and they did move


def test_erasing_blacks_out_one_rectangle_in_the_chosen_share_of_images() -> None:
    images = torch.ones(2000, 1, 28, 28)
    erased = augment(images, {"erasing": 0.5}, batch_generator(0, 0, 0))
    blacked = (erased == 0).sum(dim=(1, 2, 3))
    share = (blacked > 0).float().mean().item()
    assert 0.45 < share < 0.55
    touched = blacked[blacked > 0].float() / (28 * 28)
    assert touched.min() >= 0.005 and touched.max() <= 0.3
    # one rectangle: the erased pixels of an image span exactly as many rows x columns as they number
    one = erased[(blacked > 0).nonzero()[0, 0], 0] == 0
    rows, cols = one.any(dim=1).sum(), one.any(dim=0).sum()
    assert rows * cols == one.sum()


def test_all_transforms_run_on_whatever_device_holds_the_batch() -> None:
    batch = _images()
    out = augment(batch, {"rotation": 5.0, "erasing": 1.0}, batch_generator(0, 0, 0))
    assert out.device == batch.device and out.dtype == batch.dtype and out.shape == batch.shape
