"""Checkpoint files: written atomically, read without unpickling arbitrary objects."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

CHECKPOINT_KINDS = ("best", "last")
TEMP_SUFFIX = ".partial"


def job_dir(checkpoint_dir: Path, job_id: int) -> Path:
    return checkpoint_dir / f"job-{int(job_id)}"


def checkpoint_path(checkpoint_dir: Path, job_id: int, which: str) -> Path:
    if which not in CHECKPOINT_KINDS:
        raise ValueError(f"which must be one of {', '.join(CHECKPOINT_KINDS)}")
    return job_dir(checkpoint_dir, job_id) / f"{which}.pt"


def _temp_name(path: Path) -> Path:
    # Host and pid in the name: on a shared mount, writers on different hosts never share a temp file.
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}{TEMP_SUFFIX}")


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Temp file in the same folder, fsync, rename, fsync the folder: a crash leaves old or new, never half."""
    write_atomic(path, lambda handle: torch.save(payload, handle))


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(handle)` fills a temp file beside `path`, which then replaces `path` (see save_atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(path)
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def copy_atomic(source: Path, path: Path) -> None:
    """`path` becomes a copy of the checkpoint `source`, atomically, as save_atomic would make it.

    A hard link: no second write of the same bytes. Safe because no checkpoint is ever changed in place
    (save_atomic always renames a new file over the old name), so the two names never see a write.
    Where the file system has no hard links, the bytes are copied instead."""
    temp = _temp_name(path)
    temp.unlink(missing_ok=True)
    try:
        os.link(source, temp)
    except OSError:
        save_atomic(load(source), path)
        return
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
