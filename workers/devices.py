"""Which devices this process has, and what "auto" means here."""

from __future__ import annotations

import torch


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve(device: str) -> torch.device:
    """auto: cuda if available, else mps, else cpu. Raises RuntimeError for a device this host lacks."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    if device not in available_devices():
        raise RuntimeError(f"device {device!r} is not available on this worker (it has {', '.join(available_devices())})")
    return torch.device(device)


def describe(device: torch.device) -> str:
    """What a job records as the device it ran on, e.g. "cpu" or "cuda:0 NVIDIA H100 80GB HBM3"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return device.type
