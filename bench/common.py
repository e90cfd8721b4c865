"""What every benchmark prints first: the machine, the date, the versions."""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable

import torch


def describe_machine(device: str = "cpu") -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            name = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if device.startswith("cuda") and torch.cuda.is_available() else ""
    return (f"{datetime.date.today()} | {name}, {os.cpu_count()} cores{gpu} | torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads | Python {platform.python_version()}")


def best_of(repeats: int, run: Callable[[], object], sync: Callable[[], None] = lambda: None) -> float:
    """The fastest of several runs: the least disturbed by whatever else the machine did."""
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return min(times)
