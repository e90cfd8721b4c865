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

from mnistlab.spec import DATASET_CLASSES

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SPLIT_SIZES = {"train": 60_000, "t10k": 10_000}


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    folder: str  # torchvision's folder name under the data directory, and its dataset class's name
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", DATASET_CLASSES["mnist"]),
    "fashion-mnist": DatasetInfo("fashion-mnist", "FashionMNIST", DATASET_CLASSES["fashion-mnist"]),
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
    """Load one split as tensors from its IDX files, downloading them first (torchvision) if allowed and missing."""
    info = DATASETS[dataset]
    if not is_on_disk(data_dir, dataset):
        _download(data_dir, info, download)
    split = "train" if train else "t10k"
    folder = raw_dir(data_dir, dataset)
    images = _read_idx(folder / f"{split}-images-idx3-ubyte").view(-1, 1, 28, 28).to(torch.float32).div_(255.0)
    return Split(images=images, labels=_read_idx(folder / f"{split}-labels-idx1-ubyte").to(torch.int64))


def _idx_layout(name: str) -> tuple[int, int]:
    """(header bytes, bytes per record) of an IDX file of MNIST's, by its name."""
    return (16, 28 * 28) if "images" in name else (8, 1)


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file's records as uint8. Its count is the header's (a test's small copy holds fewer records than
    the published files); the import checked everything else."""
    data = bytearray(path.stat().st_size)  # read into a writable buffer once: torch shares it, no copy
    with open(path, "rb") as stream:
        stream.readinto(data)
    header, record = _idx_layout(path.name)
    count = struct.unpack_from(">I", data, 4)[0] if len(data) >= header else -1
    if count < 0 or len(data) != header + count * record:
        raise InvalidDatasetFile(f"{path}: {len(data)} bytes do not hold the {count} records its header says; "
                                 "import the data set again")
    return torch.frombuffer(data, dtype=torch.uint8, offset=header)


def _download(data_dir: Path, info: DatasetInfo, allowed: bool) -> None:
    """Fetch a missing data set through torchvision's own dataset class. torchvision is imported here only: it
    imports torch's compiler, seconds of start-up that a process reading files from disk does not need."""
    hint = f"put it there with: mnistlab datasets import DIR (DIR holding {info.folder}/raw/*.gz)"
    if not allowed:
        raise DatasetUnavailable(f"data set {info.name!r} is not in {data_dir} and downloads are off; {hint}")
    from torchvision import datasets as tv_datasets

    try:
        getattr(tv_datasets, info.folder)(root=str(data_dir), train=True, download=True)
    except (RuntimeError, OSError) as error:
        raise DatasetUnavailable(
            f"data set {info.name!r} is not in {data_dir} and could not be downloaded ({error}); {hint}") from error


# --- import ---------------------------------------------------------------------------------------------


def _read_header(stream, name: str) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    kind = "images" if "images" in name else "labels"
    expected_magic = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
    header = stream.read(_idx_layout(name)[0])
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
            record = _idx_layout(name)[1]
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

