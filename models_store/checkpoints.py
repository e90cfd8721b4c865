"""Checkpoint files: written atomically, read without unpickling arbitrary objects."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_KINDS = ("best", "last")
TEMP_SUFFIX = ".partial"


def job_dir(checkpoint_dir: Path, job_id: int) -> Path:
    return checkpoint_dir / f"job-{int(job_id)}"


def checkpoint_path(checkpoint_dir: Path, job_id: int, which: str) -> Path:
    if which not in CHECKPOINT_KINDS:
        raise ValueError(f"which must be one of {', '.join(CHECKPOINT_KINDS)}")
    return job_dir(checkpoint_dir, job_id) / f"{which}.pt"


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Temp file in the same folder, fsync, rename, fsync the folder: a crash leaves old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Host and pid in the name: on a shared mount, writers on different hosts never share a temp file.
    temp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load(path: Path | Any, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """weights_only=True: a planted pickle that would run code is refused, not executed."""
    return torch.load(path, map_location=map_location, weights_only=True)


def remove_temp_files(checkpoint_dir: Path, *, older_than: float) -> int:
    """Delete temp files left by writers that died mid-write (old enough that no live writer owns them)."""
    removed = 0
    cutoff = time.time() - older_than
    for temp in checkpoint_dir.glob(f"job-*/.*{TEMP_SUFFIX}"):
        try:
            if temp.stat().st_mtime < cutoff:
                temp.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed
