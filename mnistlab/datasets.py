"""MNIST and Fashion-MNIST: what they are, importing them from local IDX files, loading them as tensors."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets as tv_datasets

from mnistlab.spec import DATASET_CLASSES

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SPLIT_SIZES = {"train": 60_000, "t10k": 10_000}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    folder: str  # torchvision's folder name under the data directory
    torchvision_class: type
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", tv_datasets.MNIST, DATASET_CLASSES["mnist"]),
    "fashion-mnist": DatasetInfo("fashion-mnist", "FashionMNIST", tv_datasets.FashionMNIST,
                                 DATASET_CLASSES["fashion-mnist"]),
}
RAW_FILES = [f"{split}-{kind}-idx{dims}-ubyte" for split in SPLIT_SIZES
             for kind, dims in (("images", 3), ("labels", 1))]


class DatasetUnavailable(RuntimeError):
    """The data set is not on disk and could not be downloaded."""


class InvalidDatasetFile(ValueError):
    """An IDX file that is not what MNIST/Fashion-MNIST ships."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # float32, N x 1 x 28 x 28, in [0, 1]
    labels: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> "Split":
        return Split(images=self.images.to(device), labels=self.labels.to(device))


def raw_dir(data_dir: Path, dataset: str) -> Path:
    return data_dir / DATASETS[dataset].folder / "raw"


def is_on_disk(data_dir: Path, dataset: str) -> bool:
    folder = raw_dir(data_dir, dataset)
    return all((folder / name).is_file() for name in RAW_FILES)


def load_split(data_dir: Path, dataset: str, *, train: bool, download: bool = False) -> Split:
    """Load one split as tensors, through torchvision's own dataset class."""
    info = DATASETS[dataset]
    try:
        ds = info.torchvision_class(root=str(data_dir), train=train, download=download and not is_on_disk(data_dir, dataset))
    except (RuntimeError, OSError) as error:
        raise DatasetUnavailable(
            f"data set {dataset!r} is not in {data_dir} and could not be downloaded ({error}); "
            f"put it there with: mnistlab datasets import DIR (DIR holding {info.folder}/raw/*.gz)"
        ) from error
    images = ds.data.unsqueeze(1).to(torch.float32).div_(255.0)
    return Split(images=images, labels=ds.targets.to(torch.int64))


# --- import ---------------------------------------------------------------------------------------------


def _read_header(stream, name: str) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    kind = "images" if "images" in name else "labels"
    expected_magic = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
    header = stream.read(16 if kind == "images" else 8)
    fields = struct.unpack(">IIII" if kind == "images" else ">II", header) if len(header) in (8, 16) else ()
    if not fields or fields[0] != expected_magic:
        raise InvalidDatasetFile(f"{name}: not an IDX {kind} file (magic number {fields[:1] or 'missing'}, "
                                 f"expected {expected_magic})")
    count = SPLIT_SIZES[name.split("-")[0]]
    if fields[1] != count:
        raise InvalidDatasetFile(f"{name}: holds {fields[1]} records, expected {count}")
    if kind == "images" and fields[2:] != (28, 28):
        raise InvalidDatasetFile(f"{name}: images are {fields[2]}x{fields[3]}, expected 28x28")
    return fields


def _find_source(source_dir: Path, info: DatasetInfo, name: str) -> Path | None:
    for folder in (source_dir / info.folder / "raw", source_dir / info.folder, source_dir):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def import_dataset(source_dir: Path, data_dir: Path, dataset: str) -> Path:
    """Copy (decompressing .gz) and validate one data set's four IDX files into the data directory."""
    info = DATASETS[dataset]
    target = raw_dir(data_dir, dataset)
    target.mkdir(parents=True, exist_ok=True)
    sources = {name: _find_source(source_dir, info, name) for name in RAW_FILES}
    missing = [name for name, path in sources.items() if path is None]
    if missing:
        raise FileNotFoundError(f"{dataset}: {', '.join(missing)} (or .gz) not found under {source_dir}/{info.folder}/raw")
    for name, source in sources.items():
        assert source is not None
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as stream:
            fields = _read_header(stream, name)
            record = 28 * 28 if "images" in name else 1
            expected = fields[1] * record
            fd, temp = tempfile.mkstemp(dir=target, prefix=f".{name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    header = struct.pack(">" + "I" * len(fields), *fields)
                    out.write(header)
                    copied = _copy_exactly(stream, out, expected)
                    if copied != expected:
                        raise InvalidDatasetFile(f"{name}: truncated ({copied} of {expected} data bytes)")
                os.replace(temp, target / name)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
    return target


def _copy_exactly(stream, out, size: int) -> int:  # type: ignore[no-untyped-def]
    copied = 0
    while copied < size:
        chunk = stream.read(min(1 << 20, size - copied))
        if not chunk:
            break
        out.write(chunk)
        copied += len(chunk)
    return copied


def import_all(source_dir: Path, data_dir: Path) -> dict[str, Path]:
    """Import every data set found under source_dir; at least one must be there."""
    imported: dict[str, Path] = {}
    errors: list[str] = []
    for name in DATASETS:
        try:
            imported[name] = import_dataset(source_dir, data_dir, name)
        except FileNotFoundError as error:
            errors.append(str(error))
    if not imported:
        raise FileNotFoundError("; ".join(errors))
    return imported


def digest(data_dir: Path, dataset: str) -> str:
    """sha256 of a data set's four IDX files as imported (decompressed), in a fixed order."""
    hasher = hashlib.sha256()
    for name in RAW_FILES:
        with open(raw_dir(data_dir, dataset) / name, "rb") as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
    return hasher.hexdigest()


def label_counts(labels: torch.Tensor) -> list[int]:
    return torch.bincount(labels, minlength=10).tolist()

