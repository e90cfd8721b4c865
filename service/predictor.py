"""Models held in memory for prediction, so no request ever reads a checkpoint from disk twice."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnistlab.datasets import DATASETS
from models_store.architectures import build_model

CACHE_SIZE = 16


@dataclass(frozen=True)
class LoadedModel:
    job_id: int | None  # None: the shipped default
    dataset: str
    model: str
    epoch: int
    test_accuracy: float | None
    module: nn.Module

    def describe(self) -> dict:
        return {"job_id": self.job_id, "dataset": self.dataset, "model": self.model, "epoch": self.epoch,
                "test_accuracy": self.test_accuracy}

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASETS[self.dataset].class_names

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: N x 28 x 28 in [0, 1] -> N x 10 class probabilities."""
        batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
        with torch.inference_mode():
            return torch.softmax(self.module(batch), dim=1).numpy()


def make_loaded(*, job_id: int | None, dataset: str, model: str, hidden: int | None, epoch: int,
                test_accuracy: float | None, weights: dict[str, torch.Tensor]) -> LoadedModel:
    module = build_model(model, hidden=hidden)
    module.load_state_dict(weights)
    module.eval()
    return LoadedModel(job_id=job_id, dataset=dataset, model=model, epoch=epoch, test_accuracy=test_accuracy,
                       module=module)


class ModelCache:
    """A small LRU of loaded models keyed by what identifies their weights (job and epoch)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], LoadedModel]) -> LoadedModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        model = load()
        with self._lock:
            self._models[key] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model
