import gzip
from pathlib import Path

import pytest
import torch

from mnistlab.datasets import (
    DatasetUnavailable,
    InvalidDatasetFile,
    import_dataset,
    is_on_disk,
    label_counts,
    load_split,
)
from tests.helpers.data import SHARED_DATASETS


def test_imported_mnist_loads_as_normalised_tensors_with_the_known_label_counts(data_dir: Path) -> None:
    train = load_split(data_dir, "mnist", train=True)
    test = load_split(data_dir, "mnist", train=False)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert float(train.images.min()) == 0.0 and float(train.images.max()) == 1.0
    assert label_counts(train.labels)[1] == 6_742
    assert sum(label_counts(test.labels)) == 10_000


def test_fashion_mnist_is_balanced(data_dir: Path) -> None:
    assert label_counts(load_split(data_dir, "fashion-mnist", train=True).labels) == [6_000] * 10


def test_a_missing_data_set_names_the_import_command(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable, match="mnistlab datasets import"):
        load_split(tmp_path, "mnist", train=True, download=False)


def _fake_source(tmp_path: Path, name: str, content: bytes) -> Path:
    source = tmp_path / "source"
    raw = source / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for real in (SHARED_DATASETS / "MNIST" / "raw").iterdir():
        (raw / real.name).write_bytes(real.read_bytes())
    with gzip.open(raw / f"{name}.gz", "wb") as handle:
        handle.write(content)
    return source


def test_import_rejects_a_file_with_the_wrong_magic_number(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, "train-labels-idx1-ubyte", b"\x00\x00\x08\x03" + b"\x00" * 100)
    with pytest.raises(InvalidDatasetFile, match="magic number"):
        import_dataset(source, tmp_path / "data", "mnist")


def test_import_rejects_a_truncated_file_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    header = (2049).to_bytes(4, "big") + (60_000).to_bytes(4, "big")
    source = _fake_source(tmp_path, "train-labels-idx1-ubyte", header + b"\x01" * 10)
    with pytest.raises(InvalidDatasetFile, match="truncated"):
        import_dataset(source, tmp_path / "data", "mnist")
    assert not is_on_disk(tmp_path / "data", "mnist")
    assert not list((tmp_path / "data").rglob(".*"))


def test_import_cli_reports_what_it_imported(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers.servers import REPO

    result = subprocess.run([sys.executable, "-m", "mnistlab.cli", "datasets", "import", str(SHARED_DATASETS)],
                            env={"MNISTLAB_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert "mnist: imported" in result.stdout and "fashion-mnist: imported" in result.stdout
    assert is_on_disk(tmp_path / "datasets", "fashion-mnist")
