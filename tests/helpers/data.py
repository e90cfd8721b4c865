"""The data sets the tests use: the real ones from ../shared/datasets, and a small real copy for quick epochs."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from mnistlab.datasets import DATASETS, RAW_FILES, raw_dir
from tests.helpers.servers import REPO

SHARED_DATASETS = Path(os.environ.get("MNISTLAB_TEST_DATASETS", REPO.parent / "shared" / "datasets"))
SMALL_SIZES = {"train": 6000, "t10k": 1000}


def write_small_copy(full: Path, target: Path) -> None:
    """The first 6,000 training and 1,000 test images of each data set, as IDX files."""
    for name in DATASETS:
        source, folder = raw_dir(full, name), raw_dir(target, name)
        folder.mkdir(parents=True)
        for file_name in RAW_FILES:
            count = SMALL_SIZES[file_name.split("-")[0]]
            header_size, record = (16, 784) if "images" in file_name else (8, 1)
            raw = (source / file_name).read_bytes()
            header = bytearray(raw[:header_size])
            struct.pack_into(">I", header, 4, count)
            (folder / file_name).write_bytes(bytes(header) + raw[header_size:header_size + count * record])
