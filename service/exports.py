"""Exported model files, made once per (model, epoch, format) and kept beside the checkpoints.

A job's export lives in its checkpoint folder (`job-{id}/export-{which}-epoch-{E}.onnx`), so a second
download reads a file, and a shared checkpoint mount shares exports between API processes and hosts. The
shipped models' exports go to `shipped-exports/`, remade when the shipped file is newer. Files are written
atomically: a crash mid-export leaves no half file under the final name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from models_store import checkpoints
from models_store.onnx_export import to_onnx
from models_store.shipped import SHIPPED_DIR

if TYPE_CHECKING:  # the registry serves models through this module's exports
    from service.registry import LoadedModel


class ModelExporter:
    def __init__(self, checkpoint_dir: Path) -> None:
        self._checkpoint_dir = checkpoint_dir
        # One export at a time per process: each takes a core for a second or two, and torch's exporter
        # traces the module, which two threads should not do to one module at once.
        self._lock = threading.Lock()

    def job_export_path(self, job_id: int, which: str, epoch: int, fmt: str) -> Path:
        return checkpoints.job_dir(self._checkpoint_dir, job_id) / f"export-{which}-epoch-{epoch}.{fmt}"

    def shipped_export_path(self, dataset: str, epoch: int, fmt: str) -> Path:
        return self._checkpoint_dir / "shipped-exports" / f"{dataset}-epoch-{epoch}.{fmt}"

    def cached(self, path: Path, dataset: str | None = None) -> bool:
        """An export already made (for a shipped model: made from the shipped file there now)."""
        if not path.is_file():
            return False
        return dataset is None or path.stat().st_mtime >= (SHIPPED_DIR / f"{dataset}.pt").stat().st_mtime

    def export(self, model: "LoadedModel", path: Path, fmt: str) -> Path:
        """`path` made from `model` unless it is already there (fmt: one of EXPORT_FORMATS)."""
        shipped = model.dataset if model.job_id is None else None
        with self._lock:
            if not self.cached(path, shipped):
                data = to_onnx(model.module, dataset=model.dataset, architecture=model.model,
                               class_names=model.class_names, job_id=model.job_id, epoch=model.epoch,
                               test_accuracy=model.test_accuracy)
                checkpoints.write_atomic(path, lambda handle: handle.write(data))
        return path
