"""The data sets and the architectures: what the lab asks a student to look at first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mnistlab.datasets import DATASETS, is_on_disk
from mnistlab.spec import ARCHITECTURES
from models_store.summary import summarize
from service.deps import DataDep, SettingsDep
from service.schemas import DatasetName, DatasetOut, SplitInfo, error_responses

router = APIRouter(tags=["explore"], responses=error_responses(409))


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
