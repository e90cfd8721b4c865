"""The prediction pipeline every protocol shares: decode, preprocess, forward, rank; its metrics counted here.

Encoded files (`classify_files`) or arrays already in the data set's form (`classify_arrays`) go in;
a `Classified` comes out (probabilities, labels, class names, the 28x28 images the model saw). How the
answer is written down (`/predict`'s JSON, another protocol's tensors) is the caller's business.
Forward passes of concurrent requests are batched (service/batching.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from fastapi.concurrency import run_in_threadpool

from service.batching import ForwardBatcher
from service.imaging import decode, to_dataset_form
from service.metrics import ApiMetrics
from service.registry import LoadedModel

THREADPOOL_BYTES = 256 * 1024  # decoding more than this would stall other requests: do it off the event loop


@dataclass(frozen=True)
class EncodedImage:
    name: str  # shown back to the client, never used as a path
    data: bytes


@dataclass(frozen=True)
class Classified:
    model: LoadedModel
    names: list[str]
    images: np.ndarray         # N x 28 x 28 float32 in [0, 1]: what the model saw
    probabilities: np.ndarray  # N x 10

    @property
    def labels(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def class_names(self) -> list[str]:
        return [self.model.class_names[label] for label in self.labels]

    def ranked(self, k: int) -> np.ndarray:
        """N x k class indices, most probable first."""
        return np.argsort(-self.probabilities, axis=1, kind="stable")[:, :k]


class PredictionPipeline:
    def __init__(self, metrics: ApiMetrics, *, max_pixels: int) -> None:
        self._metrics, self._max_pixels = metrics, max_pixels
        self._batcher = ForwardBatcher()

    def _decode_all(self, files: Sequence[EncodedImage], dataset: str) -> np.ndarray:
        """Decode each file safely (4xx on a bad one) and bring it to the data set's form."""
        return np.stack([to_dataset_form(decode(f.data, max_pixels=self._max_pixels, name=f.name), dataset)
                         for f in files])

    async def classify_files(self, model: LoadedModel, files: Sequence[EncodedImage]) -> Classified:
        """Encoded image files; big uploads are decoded in a thread so the event loop keeps serving."""
        started = time.perf_counter()
        if sum(len(f.data) for f in files) > THREADPOOL_BYTES:
            images = await run_in_threadpool(self._decode_all, files, model.dataset)
        else:
            images = self._decode_all(files, model.dataset)
        return await self._classify(model, [f.name for f in files], images, started)

    async def classify_arrays(self, model: LoadedModel, images: np.ndarray,
                              names: Sequence[str] | None = None) -> Classified:
        """Images already in the data set's form: N x 28 x 28 (or N x 1 x 28 x 28) float32 in [0, 1]."""
        started = time.perf_counter()
        images = np.ascontiguousarray(images, dtype=np.float32).reshape(-1, 28, 28)
        return await self._classify(model, list(names or (f"image-{i}" for i in range(len(images)))), images,
                                    started)

    async def _classify(self, model: LoadedModel, names: list[str], images: np.ndarray,
                        started: float) -> Classified:
        probabilities = await self._batcher.probabilities(model, images)
        self._metrics.predicted(model.dataset, len(images), time.perf_counter() - started)
        return Classified(model=model, names=names, images=images, probabilities=probabilities)
