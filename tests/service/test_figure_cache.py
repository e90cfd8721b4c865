"""The figure cache: the same inputs are drawn once, other inputs anew, and it holds at most its bound."""

from __future__ import annotations

import numpy as np

from service.figure_cache import FigureCache


def test_equal_inputs_are_drawn_once_and_the_least_recently_used_go_first() -> None:
    drawn: list[tuple] = []

    def draw(images: np.ndarray, titles: list[str]) -> bytes:
        drawn.append((images.sum(), tuple(titles)))
        return bytes(400)

    cache = FigureCache(max_bytes=1000)  # room for two figures
    ones, twos = np.ones((2, 28, 28)), np.full((2, 28, 28), 2.0)
    assert cache.png(draw, ones, ["a", "b"]) == cache.png(draw, ones.copy(), ["a", "b"]) == bytes(400)
    assert len(drawn) == 1
    cache.png(draw, ones, ["a", "c"])  # another title: another figure
    cache.png(draw, ones, ["a", "b"])  # used again: now the most recent
    cache.png(draw, twos, ["a", "b"])  # a third figure evicts the least recently used (titles a, c)
    assert len(drawn) == 3
    cache.png(draw, ones, ["a", "b"])
    assert len(drawn) == 3
    cache.png(draw, ones, ["a", "c"])
    assert len(drawn) == 4
