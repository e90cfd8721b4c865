"""Rendered figures kept by what they show, so that the same figure is drawn once.

A figure is a pure function of its inputs (metrics rows, images, titles), and drawing one costs 0.1-0.5 s of
CPU in matplotlib. The key is a digest of the drawing function and those inputs: a running job's next epoch,
a new trial or another checkpoint changes the inputs and so the key, and no answer is ever stale. The routes
still read the database and evaluate the model each time; only the drawing is skipped."""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class FigureCache:
    def __init__(self, max_bytes: int = 32 << 20) -> None:
        self.max_bytes = max_bytes
        self._pngs: OrderedDict[bytes, bytes] = OrderedDict()  # least recently used first
        self._size = 0
        self._lock = threading.Lock()  # routes draw in the thread pool

    def png(self, draw: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes:
        key = hashlib.sha256(pickle.dumps((draw.__module__, draw.__qualname__, args, sorted(kwargs.items())),
                                          protocol=pickle.HIGHEST_PROTOCOL)).digest()
        with self._lock:
            if key in self._pngs:
                self._pngs.move_to_end(key)
                return self._pngs[key]
        png = draw(*args, **kwargs)  # outside the lock: other figures are not held up by this one
        with self._lock:
            if key not in self._pngs and len(png) <= self.max_bytes:
                self._pngs[key] = png
                self._size += len(png)
                while self._size > self.max_bytes:
                    self._size -= len(self._pngs.popitem(last=False)[1])
        return png
