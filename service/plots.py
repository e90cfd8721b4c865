"""The lab's figures as PNG bytes, with matplotlib's object API (no pyplot global state, no display).

matplotlib is imported at the first figure, not at import: it was a second of every API process's start-up,
and most processes serve predictions and jobs, not figures."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


GRID_CELL = (32, 36)  # image_grid's cell in image pixels, in the proportions of its 1.6 x 1.8 inch cells


def _figure(**options: Any) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def _colormap(name: str):  # type: ignore[no-untyped-def]
    from matplotlib import colormaps

    return colormaps[name]


def _png(figure: Figure, *, crop: bool | None = None) -> bytes:
    """crop: trim the figure to what is drawn, which costs a second rendering; by default only for a figure
    without a layout engine (a constrained layout already fits its contents to the figure)."""
    buffer = io.BytesIO()
    if crop is None:
        crop = figure.get_layout_engine() is None
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight" if crop else None)
    return buffer.getvalue()


def curves(series: Sequence[tuple[str, Sequence[dict]]], *, title: str) -> bytes:
    """Loss, train accuracy and test accuracy against epoch, one line per (label, metrics rows)."""
    figure = _figure(figsize=(13, 4.3), layout="constrained")
    axes = figure.subplots(1, 3)
    for label, rows in series:
        epochs = [row["epoch"] for row in rows]
        for ax, key in zip(axes, ("loss", "train_accuracy", "test_accuracy"), strict=True):
            ax.plot(epochs, [row[key] for row in rows], marker="o" if len(rows) < 30 else None, markersize=3,
                    label=label)
    for ax, name in zip(axes, ("training loss", "train accuracy", "test accuracy"), strict=True):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if any(rows for _, rows in series):
        axes[2].legend(fontsize=8, loc="lower right")
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no finished epoch yet", ha="center", va="center", transform=ax.transAxes)
    figure.suptitle(title)
    return _png(figure)


def image_grid(images: np.ndarray, titles: Sequence[str], *, columns: int = 6) -> bytes:
    """28x28 images in a grid, each with a title (labels, or "true -> predicted").

    One axes showing one mosaic, titles as text on it: an axes per image made a grid of 100 take ~1 s."""
    count = max(1, len(images))
    rows = math.ceil(count / columns)
    side, width, height = 28, GRID_CELL[0], GRID_CELL[1]  # a cell: the image, a margin, its title above it
    mosaic = np.full((rows * height, columns * width), np.nan)
    figure = _figure(figsize=(columns * 1.6, rows * 1.8))
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.axis("off")
    for index, (image, title) in enumerate(zip(images, titles, strict=True)):
        row, column = divmod(index, columns)
        top, left = row * height + height - side - 2, column * width + (width - side) // 2
        mosaic[top:top + side, left:left + side] = image
        ax.text(left + side / 2, top - 1, title, ha="center", va="bottom", fontsize=9)
    ax.imshow(mosaic, cmap=_colormap("gray").with_extremes(bad="white"), vmin=0, vmax=1, interpolation="nearest")
    return _png(figure, crop=False)  # the mosaic fills the figure: nothing to trim


def confusion(matrix: np.ndarray, class_names: Sequence[str], *, title: str) -> bytes:
    figure = _figure(figsize=(7.5, 6.5))
    ax = figure.subplots()
    shown = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(shown, ax=ax)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(col, row, str(value), ha="center", va="center", fontsize=7,
                color="white" if value > threshold else "black")
    ax.set_title(title)
    return _png(figure)


def sweep_curves(trials: Sequence[tuple[str, bool, Sequence[dict]]], *, title: str) -> bytes:
    """Test accuracy against epoch, one line per (label, pruned?, metrics rows); pruned trials dashed and grey."""
    figure = _figure(figsize=(9, 5), layout="constrained")
    ax = figure.subplots()
    colors = _colormap("tab20")  # 20 distinct colours: a 12-trial grid repeats none
    for index, (label, pruned, rows) in enumerate(trials):
        epochs = [row["epoch"] for row in rows]
        accuracy = [row["test_accuracy"] for row in rows]
        if pruned:
            ax.plot(epochs, accuracy, linestyle="--", color="0.6", marker="x", markersize=4, label=f"{label} (pruned)")
        else:
            ax.plot(epochs, accuracy, marker="o", markersize=3, label=label, color=colors(index % 20))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    if any(rows for _, _, rows in trials):
        ax.legend(fontsize=7, loc="lower right", ncol=2 if len(trials) > 10 else 1)
    else:
        ax.text(0.5, 0.5, "no finished epoch yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    return _png(figure)


def sweep_params(settings: Sequence[tuple[str, bool]], points: Sequence[tuple[dict, float, bool]], *,
                 title: str) -> bytes:
    """Best test accuracy against each varied setting (name, log scale?): one panel per setting, one point
    per trial (params, accuracy, pruned?); pruned trials as grey crosses."""
    figure = _figure(figsize=(4.2 * max(1, len(settings)), 4), layout="constrained")
    axes = figure.subplots(1, max(1, len(settings)), squeeze=False)[0]
    for ax, (name, log) in zip(axes, settings, strict=False):
        values = [params.get(name) for params, _, _ in points]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        categories = sorted({str(v) for v in values})
        for (params, accuracy, pruned), value in zip(points, values, strict=True):
            x = value if numeric else categories.index(str(value))
            ax.scatter([x], [accuracy], marker="x" if pruned else "o", color="0.6" if pruned else "C0")
        if not numeric:
            ax.set_xticks(range(len(categories)), categories)
        elif log:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("best test accuracy")
        ax.grid(alpha=0.3)
    figure.suptitle(title)
    return _png(figure)
