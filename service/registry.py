"""Which model answers: a job's best checkpoint or a data set's default (chosen or shipped), held in memory.

`ModelRegistry` is the one object that looks models up; every caller (/predict, the analysis routes,
a second protocol) asks it and gets a `LoadedModel`, never a checkpoint path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker
from torch import nn

from mnistlab.settings import Settings
from mnistlab.spec import DATASET_CLASSES, JobStatus
from mnistlab.tables import DefaultModel, Job
from models_store import checkpoints
from models_store.architectures import build_model
from models_store.shipped import load_shipped
from service.errors import Conflict, Invalid
from service.exports import ModelExporter
from service.runtime import Runner, RuntimeChooser, TorchRunner
from service.submission import get_job

log = logging.getLogger(__name__)
CACHE_SIZE = 16  # loaded models kept (by job and epoch), so no request reads a checkpoint twice
DEFAULTS_TTL = 2.0  # seconds another API process may serve a default that an operator just changed


@dataclass(frozen=True)
class LoadedModel:
    job_id: int | None  # None: the shipped default
    dataset: str
    model: str
    epoch: int
    test_accuracy: float | None
    module: nn.Module  # the network itself: for evaluations, exports and explanations
    runner: Runner = field(compare=False)  # what answers predictions (service/runtime.py)

    def describe(self) -> dict:
        return {"job_id": self.job_id, "dataset": self.dataset, "model": self.model, "epoch": self.epoch,
                "test_accuracy": self.test_accuracy}

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASET_CLASSES[self.dataset]

    @property
    def platform(self) -> str:
        """The runtime serving it, as Triton names it: onnxruntime_onnx or pytorch_libtorch."""
        return self.runner.platform

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """images: N x 28 x 28 (or N x 1 x 28 x 28) in [0, 1] -> N x 10 class probabilities."""
        return self.runner.probabilities(images)


def make_loaded(*, job_id: int | None, dataset: str, model: str, hidden: int | None, epoch: int,
                test_accuracy: float | None, weights: dict[str, torch.Tensor]) -> LoadedModel:
    """The model served by PyTorch (the registry hands it to the runtime its settings choose)."""
    module = build_model(model, hidden=hidden)
    module.load_state_dict(weights)
    module.eval()
    return LoadedModel(job_id=job_id, dataset=dataset, model=model, epoch=epoch, test_accuracy=test_accuracy,
                       module=module, runner=TorchRunner(module))


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


class ModelRegistry:
    """Looks up models: `job(id)`, `default(dataset)`; chooses defaults. Thread-safe."""

    def __init__(self, *, settings: Settings, reads: sessionmaker, exporter: ModelExporter,
                 cache_size: int = CACHE_SIZE) -> None:
        self._settings, self._reads, self._exporter = settings, reads, exporter
        self._runtime = RuntimeChooser(settings.runtime)
        self._cache = ModelCache(cache_size)
        self._lock = threading.Lock()
        self._choices: dict[str, int | None] = {}  # data set -> chosen job id (absent: shipped)
        self._fetched = 0.0

    # --- lookup -----------------------------------------------------------------------------------------

    def job(self, job_id: int, which: str = "best") -> LoadedModel:
        """A job's best (or last) model: 404 for an unknown job, 409 for one without a checkpoint yet."""
        with self._reads() as session:
            job = job_with_checkpoint(session, job_id)
        return self._job_model(job, which)

    def default(self, dataset: str) -> LoadedModel:
        """The data set's default: the job an operator chose, else the shipped model."""
        job_id = self._chosen(dataset)
        if job_id is not None:
            with self._reads() as session:
                job = session.get(Job, job_id)
            if job is not None and job.best_epoch is not None:
                return self._job_model(job)
        return self.shipped(dataset)

    def warm_defaults(self) -> None:
        """Load each data set's default now (exporting it for onnxruntime where no export is kept yet), so that
        the first prediction does not wait for it. Run in the background by serving processes."""
        started = time.monotonic()
        for dataset in DATASET_CLASSES:
            try:
                self.default(dataset)
            except Exception:  # a request will meet the same problem and answer it properly
                log.exception("could not load the default %s model ahead of requests", dataset)
        log.info("default models loaded in %.1fs", time.monotonic() - started)

    # --- choosing defaults (in the caller's write transaction) -----------------------------------------

    def set_default(self, session: Session, dataset: str, job_id: int) -> Job:
        job = job_with_checkpoint(session, job_id)
        if job.status != JobStatus.succeeded:
            raise Conflict(f"job {job_id} has not succeeded ({job.status.value}); only a finished job's model "
                           f"can be the default")
        if job.dataset != dataset:
            raise Invalid(("body", "job_id"), f"job {job_id} trained on {job.dataset!r}, not {dataset!r}")
        session.merge(DefaultModel(dataset=dataset, job_id=job_id))
        self._forget_defaults_after_commit(session)
        return job

    def clear_default(self, session: Session, dataset: str) -> None:
        row = session.get(DefaultModel, dataset)
        if row is not None:
            session.delete(row)
        self._forget_defaults_after_commit(session)

    def _forget_defaults_after_commit(self, session: Session) -> None:
        # After, not before: a request in between would otherwise cache the old choice again.
        def forget(_session: Session) -> None:
            with self._lock:
                self._fetched = 0.0

        event.listen(session, "after_commit", forget, once=True)

    # --- internals --------------------------------------------------------------------------------------

    def _chosen(self, dataset: str) -> int | None:
        with self._lock:
            if time.monotonic() - self._fetched > DEFAULTS_TTL:
                with self._reads() as session:
                    rows = session.execute(select(DefaultModel.dataset, DefaultModel.job_id)).all()
                self._choices = {name: job_id for name, job_id in rows}
                self._fetched = time.monotonic()
            return self._choices.get(dataset)

    def _job_model(self, job: Job, which: str = "best") -> LoadedModel:
        def load() -> LoadedModel:
            path = checkpoints.checkpoint_path(self._settings.checkpoint_dir, job.id, which)
            payload = checkpoints.load(path)
            metrics = payload.get("metrics") or {}
            loaded = make_loaded(job_id=job.id, dataset=job.dataset, model=job.model, hidden=job.hidden,
                                 epoch=payload["epoch"], test_accuracy=metrics.get("test_accuracy"),
                                 weights=payload["model"])
            return self._served(loaded, self._exporter.job_export_path(job.id, which, loaded.epoch, "onnx"))

        return self._cache.get(("job", job.id, which, job.best_epoch if which == "best" else job.last_epoch), load)

    def shipped(self, dataset: str) -> LoadedModel:
        """The model that came with mnistlab for this data set."""
        def load() -> LoadedModel:
            shipped = load_shipped(dataset)
            loaded = make_loaded(job_id=None, dataset=dataset, model=shipped.model, hidden=None, epoch=shipped.epoch,
                                 test_accuracy=shipped.test_accuracy, weights=shipped.weights)
            return self._served(loaded, self._exporter.shipped_export_path(dataset))

        return self._cache.get(("shipped", dataset), load)

    def _served(self, loaded: LoadedModel, export_path: Path) -> LoadedModel:
        """The model with the runner that will answer for it: onnxruntime on its export, or PyTorch."""
        name = f"job {loaded.job_id}" if loaded.job_id is not None else f"the shipped {loaded.dataset} model"
        runner = self._runtime.runner(loaded.module, lambda: self._exporter.export(loaded, export_path, "onnx"),
                                      f"{name} (epoch {loaded.epoch})")
        return replace(loaded, runner=runner)


def job_with_checkpoint(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    if job.best_epoch is None:
        raise Conflict(f"job {job_id} has no checkpoint yet ({job.status.value})")
    return job
