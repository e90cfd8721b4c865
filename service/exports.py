"""Exported model files, made once per (model, epoch, format) and kept beside the checkpoints.

A job's export lives in its checkpoint folder (`job-{id}/export-{which}-epoch-{E}.onnx`), so a second
download reads a file, and a shared checkpoint mount shares exports between API processes and hosts. The
shipped models come with their exports (models_store/shipped/*.onnx), never made here. Files are written
atomically: a crash mid-export leaves no half file under the final name. One export at a time per
checkpoint folder, across threads, API processes and hosts (a lock file there): `serve`'s API processes all
warm the same default models at start, and each export takes a core for seconds (dynamo traces the model),
so the second process waits for the first one's file instead of tracing it again, beside a training worker.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from models_store import checkpoints
from models_store.onnx_export import to_onnx
from models_store.shipped import shipped_onnx_path

if TYPE_CHECKING:  # the registry serves models through this module's exports
    from service.registry import LoadedModel


class ModelExporter:
    def __init__(self, checkpoint_dir: Path) -> None:
        self._checkpoint_dir = checkpoint_dir
        # One export at a time per process: each takes a core for a second or two, and torch's exporter
        # traces the module, which two threads should not do to one module at once.
        self._lock = threading.Lock()

    @contextmanager
    def _folder_lock(self) -> Iterator[None]:
        """Held while one export is made in this checkpoint folder, by any process (flock: released by the
        kernel if the holder dies)."""
        self._checkpoint_dir.mkdir(parents=True, exist_ok=True)
        with open(self._checkpoint_dir / ".exports.lock", "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def job_export_path(self, job_id: int, which: str, epoch: int, fmt: str) -> Path:
        return checkpoints.job_dir(self._checkpoint_dir, job_id) / f"export-{which}-epoch-{epoch}.{fmt}"

    @staticmethod
    def shipped_export_path(dataset: str) -> Path:
        return shipped_onnx_path(dataset)

    @staticmethod
    def cached(path: Path) -> bool:
        return path.is_file()

    def export(self, model: "LoadedModel", path: Path, fmt: str) -> Path:
        """`path` made from `model` unless it is already there (fmt: one of EXPORT_FORMATS). A shipped model's
        export comes with it: FileNotFoundError if an installation lost it (the registry then serves the model
        with PyTorch)."""
        if model.job_id is None:
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing; scripts/train_default_models.py --export-only remakes it")
            return path
        with self._lock, self._folder_lock():
            if not self.cached(path):
                data = to_onnx(model.module, dataset=model.dataset, architecture=model.model,
                               class_names=model.class_names, job_id=model.job_id, epoch=model.epoch,
                               test_accuracy=model.test_accuracy)
                checkpoints.write_atomic(path, lambda handle: handle.write(data))
        return path
