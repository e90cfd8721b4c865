"""What the API answers, as typed records (plain dataclasses: no pydantic, no torch, quick to import)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One finished epoch of a job."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float

    @classmethod
    def of(cls, row: dict[str, Any]) -> Metric:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ModelInfo:
    """A model that answers predictions: a job's best checkpoint, or the shipped one (`job_id` None)."""

    job_id: int | None
    dataset: str
    model: str
    epoch: int
    test_accuracy: float | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ModelInfo:
        return cls(**{name: row.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Models:
    """GET /models: each data set's default, and every job with a checkpoint."""

    defaults: dict[str, ModelInfo]
    jobs: list[ModelInfo]


@dataclass(frozen=True)
class ClassProbability:
    label: int
    class_name: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """One image's answer; `filename` is the upload's name, or `images[i]` for an array's i-th image."""

    filename: str
    label: int
    class_name: str
    confidence: float
    top_k: list[ClassProbability]

    @classmethod
    def of(cls, row: dict[str, Any]) -> Prediction:
        return cls(filename=row["filename"], label=row["label"], class_name=row["class_name"],
                   confidence=row["confidence"], top_k=[ClassProbability(**item) for item in row["top_k"]])


@dataclass(frozen=True)
class Predictions:
    """The model that answered and one prediction per image, in the order the images were given."""

    model: ModelInfo
    predictions: list[Prediction] = field(default_factory=list)

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self.predictions)

    def __len__(self) -> int:
        return len(self.predictions)

    def __getitem__(self, index: int) -> Prediction:
        return self.predictions[index]

    @property
    def labels(self) -> list[int]:
        return [prediction.label for prediction in self.predictions]


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job: `progress`, `epoch` (id `epoch-N`) or the final `status`."""

    kind: str
    data: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Trial:
    """One row of a sweep's leaderboard."""

    trial: int
    job_id: int
    status: str
    params: dict[str, Any]
    best_test_accuracy: float | None
    epochs_run: int
    seconds: float
    stopped_early: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Trial:
        return cls(**{name: row.get(name) for name in cls.__dataclass_fields__})
