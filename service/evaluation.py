"""Data sets held by the API for exploration, and a trained model's predictions on the test set."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from mnistlab.datasets import DatasetUnavailable, Split, label_counts, load_split
from mnistlab.settings import Settings
from models_store.architectures import eval_batch_size
from service.errors import Conflict
from service.registry import LoadedModel


class DataCache:
    """Splits loaded once per API process, on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._splits: dict[tuple[str, bool], Split] = {}
        self._counts: dict[tuple[str, bool], list[int]] = {}
        self._lock = threading.Lock()

    def split(self, dataset: str, *, train: bool) -> Split:
        key = (dataset, train)
        with self._lock:
            if key not in self._splits:
                try:
                    self._splits[key] = load_split(self._settings.datasets_dir, dataset, train=train,
                                                   download=self._settings.download)
                except DatasetUnavailable as error:
                    raise Conflict(str(error)) from None
            return self._splits[key]

    def label_counts(self, dataset: str, *, train: bool) -> list[int]:
        key = (dataset, train)
        if key not in self._counts:
            self._counts[key] = label_counts(self.split(dataset, train=train).labels)
        return self._counts[key]


@dataclass(frozen=True)
class Evaluation:
    labels: np.ndarray       # true labels of the test set
    predicted: np.ndarray
    confidence: np.ndarray   # probability of the predicted class

    @property
    def mistakes(self) -> np.ndarray:
        """Indices of misclassified images, most confident mistakes first."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        return wrong[np.argsort(-self.confidence[wrong], kind="stable")]

    def confusion(self) -> np.ndarray:
        matrix = np.zeros((10, 10), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predicted), 1)
        return matrix


class Evaluator:
    """Test-set predictions of a model, cached per (job, epoch): a checkpoint never changes."""

    def __init__(self, data: DataCache, size: int = 8) -> None:
        self._data, self._size = data, size
        self._results: dict[tuple, Evaluation] = {}
        self._lock = threading.Lock()

    def evaluate(self, model: LoadedModel) -> Evaluation:
        key = (model.job_id, model.dataset, model.epoch)
        with self._lock:
            if key in self._results:
                return self._results[key]
        test = self._data.split(model.dataset, train=False)
        predicted, confidence = [], []
        # The workers' evaluation batch, so that the numbers match the recorded accuracy exactly.
        batch = eval_batch_size(model.module, test.images.device)
        with torch.inference_mode():
            for start in range(0, len(test), batch):
                probs = torch.softmax(model.module(test.images[start:start + batch]), dim=1)
                best = probs.max(dim=1)
                predicted.append(best.indices)
                confidence.append(best.values)
        result = Evaluation(labels=test.labels.numpy(), predicted=torch.cat(predicted).numpy(),
                            confidence=torch.cat(confidence).numpy())
        with self._lock:
            if len(self._results) >= self._size:
                self._results.pop(next(iter(self._results)))
            self._results[key] = result
        return result
