"""The data sets and the architectures: what the lab asks a student to look at first."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from mnistlab.datasets import DATASETS, is_on_disk
from mnistlab.spec import ARCHITECTURES
from models_store.summary import summarize
from service.deps import DataDep, SettingsDep
from service.errors import NotFound
from service.imaging import to_png
from service.schemas import DatasetImagesOut, DatasetName, DatasetOut, SplitInfo, error_responses

router = APIRouter(tags=["explore"], responses=error_responses(409))
SplitName = Literal["train", "test"]
Label = Annotated[int, Query(ge=0, le=9, description="a class of the data set (0-9)")]
# An image never changes: browsers keep it (the drill-downs of the dashboard show dozens at once).
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _split_info(counts: list[int]) -> SplitInfo:
    total = sum(counts)
    return SplitInfo(count=total, label_counts=counts, label_proportions=[c / total for c in counts])


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(settings: SettingsDep) -> list[DatasetOut]:
    """Both data sets: shape, class names and whether they are on disk."""
    return [DatasetOut(name=name, image_shape=[1, 28, 28], class_names=list(info.class_names),
                       on_disk=is_on_disk(settings.datasets_dir, name)) for name, info in DATASETS.items()]


@router.get("/datasets/{name}", response_model=DatasetOut)
def read_dataset(name: DatasetName, data: DataDep, settings: SettingsDep) -> DatasetOut:
    """Sizes and the count and share of each label in train and test (is the data balanced?)."""
    on_disk = is_on_disk(settings.datasets_dir, name)
    splits = {}
    if on_disk:
        splits = {split: _split_info(data.label_counts(name, train=split == "train")) for split in ("train", "test")}
    return DatasetOut(name=name, image_shape=[1, 28, 28], class_names=list(DATASETS[name].class_names),
                      on_disk=on_disk, **splits)


@router.get("/architectures")
def architectures(hidden: Annotated[int, Query(ge=1, le=4096)] = 128) -> list[dict]:
    """Each model's layers with output shapes and parameter counts (ffnn with the given `hidden`)."""
    return [summarize(model, hidden=hidden if model == "ffnn" else None) for model in ARCHITECTURES]


@router.get("/datasets/{name}/images", response_model=DatasetImagesOut, responses=error_responses(404))
def list_images(name: DatasetName, data: DataDep, split: SplitName = "train", label: Label | None = None,
                offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=0, le=1000)] = 48) -> DatasetImagesOut:
    """Indices of a split's images, in order, optionally of one class: to browse it page by page."""
    labels = data.split(name, train=split == "train").labels.numpy()
    chosen = np.flatnonzero(labels == label) if label is not None else np.arange(len(labels))
    if offset and offset >= len(chosen):
        which = f"of class {label} " if label is not None else ""
        raise NotFound(f"offset {offset} is past the {len(chosen):,} images {which}in {name} {split}")
    page = chosen[offset:offset + limit]
    return DatasetImagesOut(split=split, label=label, count=len(chosen), offset=offset,
                            indices=page.tolist(), labels=labels[page].tolist())


@router.get("/datasets/{name}/images/{index}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **error_responses(404)})
def image_png(name: DatasetName, index: Annotated[int, Path(ge=0)], data: DataDep,
              split: SplitName = "test") -> Response:
    """One image of a split as a 28x28 grayscale PNG, as the models see it (white on black)."""
    images = data.split(name, train=split == "train").images
    if index >= len(images):
        raise NotFound(f"{name} {split} has {len(images):,} images (0-{len(images) - 1}): "
                       f"index {index} is past its end")
    return Response(to_png(images[index, 0].numpy()), media_type="image/png", headers=IMMUTABLE)
