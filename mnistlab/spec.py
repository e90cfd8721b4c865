"""What a training job is: its fields, allowed values, defaults, cross-field rules and derived figures.

Everything else derives from this module: the API's request and response models (and so the OpenAPI
schema), `GET /spec` and the dashboard's form, the database columns, the worker's training config.
It imports neither torch nor any web framework, so every process can afford to load it.

A new optimizer or hyper-parameter: add it to `OPTIMIZERS` below and to the factory in
`workers/training.py`. Hyper-parameters live in one JSON column (`jobs.optimizer_params`), so they need
no migration (docs/design.md says why).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

# --- allowed values -------------------------------------------------------------------------------------

DATASET_CLASSES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
DATASET_NAMES = tuple(DATASET_CLASSES)
TRAIN_SIZE = 60_000  # both data sets: what steps per epoch are counted against
TEST_SIZE = 10_000
IMAGE_SHAPE = (1, 28, 28)

ARCHITECTURES = ("linear", "ffnn", "cnn", "convnet")  # the lab's three, then the best small model
DEFAULT_HIDDEN = 128
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_EPOCHS = 1000
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class HyperParameter:
    """One optimizer knob: its default and what the API accepts."""

    default: float | bool
    description: str
    ge: float | None = None
    lt: float | None = None


@dataclass(frozen=True)
class OptimizerSpec:
    default_lr: float
    hyper: dict[str, HyperParameter] = field(default_factory=dict)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(default_lr=0.005, hyper={
        "momentum": HyperParameter(0.0, "SGD's momentum", ge=0, lt=1),
        "nesterov": HyperParameter(False, "Nesterov momentum (needs momentum > 0)"),
    }),
    "adam": OptimizerSpec(default_lr=0.001),
    "adamw": OptimizerSpec(default_lr=0.001, hyper={
        "weight_decay": HyperParameter(0.01, "decoupled weight decay", ge=0, lt=1),
    }),
}
OPTIMIZER_NAMES = tuple(OPTIMIZERS)
HYPER_PARAMETERS = tuple(dict.fromkeys(name for spec in OPTIMIZERS.values() for name in spec.hyper))

LR_SCHEDULES = ("constant", "cosine", "onecycle")  # stepped per batch; onecycle: `lr` is the peak


class Augmentation(BaseModel):
    """Random changes to each training image, drawn anew every epoch (workers/augmentation.py applies them
    to whole batches on the job's device). All zero: none."""

    model_config = ConfigDict(extra="forbid")

    rotation: float = Field(0.0, ge=0, le=45, description="degrees; each image turns by a uniform angle in +-this")
    scale: float = Field(0.0, ge=0, le=0.5, description="each image is scaled by a uniform factor in 1 +- this")
    translation: float = Field(0.0, ge=0, le=0.3, description="share of the side; each image moves by a uniform "
                                                             "offset in +-this on each axis")
    flip: float = Field(0.0, ge=0, le=1, description="probability of a horizontal flip (clothes, not digits)")
    erasing: float = Field(0.0, ge=0, le=1, description="probability of one random rectangle (2-25% of the image) "
                                                       "set to black")


# What the shipped models trained with (docs/benchmarks.md): digits keep their handedness, so no flip; clothes
# their upright pose, so no rotation (and random erasing with label smoothing did worse on the convnet).
AUGMENTATION_PRESETS: dict[str, Augmentation] = {
    "none": Augmentation(),
    "digits": Augmentation(rotation=10, scale=0.1, translation=0.1),
    "clothes": Augmentation(translation=0.1, flip=0.5),
}
AugmentationPresetName = Literal[tuple(AUGMENTATION_PRESETS)]  # type: ignore[valid-type]
MAX_LABEL_SMOOTHING = 0.5

DatasetName = Literal[DATASET_NAMES]  # type: ignore[valid-type]
LrScheduleName = Literal[LR_SCHEDULES]  # type: ignore[valid-type]
ModelName = Literal[ARCHITECTURES]  # type: ignore[valid-type]
OptimizerName = Literal[OPTIMIZER_NAMES]  # type: ignore[valid-type]
DeviceName = Literal[DEVICES]  # type: ignore[valid-type]


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    pruned = "pruned"  # a sweep's trial its pruner stopped: its epochs so far are kept

    @property
    def ended(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled, JobStatus.pruned)


class SweepStatus(str, enum.Enum):
    """A sweep's states; mnistlab/sweeps.py makes every transition."""
    running = "running"        # its trials queue and run; a search asks new ones as trials end
    cancelling = "cancelling"  # cancel asked: no new trial; its trials end, then the sweeper says cancelled
    finished = "finished"      # every planned trial ended
    cancelled = "cancelled"

    @property
    def active(self) -> bool:
        return self in (SweepStatus.running, SweepStatus.cancelling)


StatusName = Literal[tuple(status.value for status in JobStatus)]  # type: ignore[valid-type]


def optimizers_with(knob: str) -> list[str]:
    return [name for name, spec in OPTIMIZERS.items() if knob in spec.hyper]


# --- derived figures ------------------------------------------------------------------------------------


def batches_per_epoch(train_size: int, batch_size: int) -> tuple[int, int]:
    """(steps, size of the last batch); batch_size 0 means one full batch."""
    size = batch_size or train_size
    steps = -(-train_size // size)
    return steps, train_size - (steps - 1) * size


class EarlyStopping(BaseModel):
    """When a job may end before its last epoch (any subset; at least patience or a target)."""

    model_config = ConfigDict(extra="forbid")

    patience: int | None = Field(None, ge=1, le=MAX_EPOCHS,
                                 description="stop after this many epochs without a gain in test accuracy")
    min_delta: float = Field(0.0, ge=0, le=1, description="a gain is an increase above this")
    target_test_accuracy: float | None = Field(None, gt=0, le=1,
                                               description="stop after the first epoch at or above it")

    @model_validator(mode="after")
    def _something_to_stop_on(self) -> "EarlyStopping":
        if self.patience is None and self.target_test_accuracy is None:
            raise ValueError("early_stopping needs patience or target_test_accuracy (or both)")
        return self


def early_stop_reason(rule: dict[str, Any] | None, test_accuracies: list[float]) -> str | None:
    """Why a job with these epochs behind it stops now, or None. A pure function of the history, so a
    job resumed after a kill decides exactly as it would have."""
    if not rule or not test_accuracies:
        return None
    epochs = len(test_accuracies)
    target = rule.get("target_test_accuracy")
    if target is not None and test_accuracies[-1] >= target:
        return f"reached the target test accuracy {target:g} at epoch {epochs} ({test_accuracies[-1]:.4f})"
    patience, min_delta = rule.get("patience"), rule.get("min_delta") or 0.0
    if patience:
        best, best_epoch = float("-inf"), 0
        for epoch, value in enumerate(test_accuracies, 1):
            if value > best + min_delta:
                best, best_epoch = value, epoch
        if epochs - best_epoch >= patience:
            return (f"no gain above {min_delta:g} in test accuracy for {patience} epochs "
                    f"(best {best:.4f} at epoch {best_epoch})")
    return None


# --- the job: what a client asks for, and what it resolves to --------------------------------------------


@dataclass(frozen=True)
class JobConfig:
    """A job with every default filled in: what the database stores and the worker trains."""

    dataset: str
    model: str
    optimizer: str
    epochs: int
    batch_size: int
    seed: int
    lr: float
    optimizer_params: dict[str, Any] = field(default_factory=dict)  # this optimizer's knobs, all of them
    hidden: int | None = None
    device: str = "auto"
    lr_schedule: str = "constant"
    early_stopping: dict[str, Any] | None = None  # EarlyStopping's fields
    augmentation: dict[str, float] | None = None  # Augmentation's fields, all of them; None: none
    label_smoothing: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "optimizer_params": dict(self.optimizer_params),
                "early_stopping": dict(self.early_stopping) if self.early_stopping else None,
                "augmentation": dict(self.augmentation) if self.augmentation else None}

    @property
    def steps_per_epoch(self) -> int:
        return batches_per_epoch(TRAIN_SIZE, self.batch_size)[0]

    @property
    def last_batch_size(self) -> int:
        return batches_per_epoch(TRAIN_SIZE, self.batch_size)[1]


def hyper_parameter_fields(*, bounded: bool) -> dict[str, Any]:
    """Pydantic fields for every optimizer knob, top-level like `momentum`: optional, null = default.
    bounded: with the limits the API enforces (requests); without them for responses."""
    fields: dict[str, Any] = {}
    for name in HYPER_PARAMETERS:
        knob = next(spec.hyper[name] for spec in OPTIMIZERS.values() if name in spec.hyper)
        owners = " or ".join(repr(owner) for owner in optimizers_with(name))
        limits = {"ge": knob.ge, "lt": knob.lt} if bounded else {}
        kind = bool if isinstance(knob.default, bool) else float
        fields[name] = (kind | None, Field(None, **limits, description=(
            f"{knob.description}; optimizer {owners} only; default {knob.default}")))
    return fields


class _JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName
    model: ModelName
    optimizer: OptimizerName
    epochs: int = Field(100, ge=1, le=MAX_EPOCHS)
    # 128: the lab's CNN with Adam reaches 0.983 in 3 epochs, against 0.976 at 256 and 0.969 at 512
    # (bench/defaults.py, docs/benchmarks.md); smaller batches gain little and cost more seconds an epoch.
    batch_size: int = Field(128, ge=0, le=TRAIN_SIZE, description="0: full-batch gradient descent")
    lr: float | None = Field(None, gt=0, le=10, description="default: " + ", ".join(
        f"{name} {spec.default_lr:g}" for name, spec in OPTIMIZERS.items()))
    hidden: int | None = Field(None, ge=1, le=4096, description=f"ffnn only; default {DEFAULT_HIDDEN}")
    device: DeviceName = "auto"
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="default: random, recorded")
    lr_schedule: LrScheduleName = Field("constant", description="per batch: constant, cosine annealing to 0, or "
                                                               "one cycle with `lr` as its peak")
    early_stopping: EarlyStopping | None = None
    augmentation: AugmentationPresetName | Augmentation | None = Field(None, description=(
        "a preset (" + ", ".join(f"{name}: {preset.model_dump(exclude_defaults=True) or 'nothing'}"
                                 for name, preset in AUGMENTATION_PRESETS.items()) + ") or explicit values"))
    label_smoothing: float = Field(0.0, ge=0, le=MAX_LABEL_SMOOTHING,
                                   description="share of each target spread evenly over the ten classes")

    @model_validator(mode="after")
    def _only_where_meaningful(self) -> "_JobRequest":
        if self.hidden is not None and self.model != "ffnn":
            raise ValueError(f"hidden applies to model 'ffnn' only, not {self.model!r}")
        for knob in HYPER_PARAMETERS:
            owners = optimizers_with(knob)
            if getattr(self, knob) is not None and self.optimizer not in owners:
                raise ValueError(f"{knob} applies to optimizer {' or '.join(map(repr, owners))} only, "
                                 f"not {self.optimizer!r}")
        if getattr(self, "nesterov", None) and not getattr(self, "momentum", None):
            raise ValueError("nesterov needs momentum > 0 (Nesterov's method is a kind of momentum)")
        return self

    def resolve(self, *, seed: int) -> JobConfig:
        """The complete config; `seed` is used when the request gave none."""
        spec = OPTIMIZERS[self.optimizer]
        params = {name: getattr(self, name) if getattr(self, name) is not None else knob.default
                  for name, knob in spec.hyper.items()}
        return JobConfig(dataset=self.dataset, model=self.model, optimizer=self.optimizer, epochs=self.epochs,
                         batch_size=self.batch_size, seed=self.seed if self.seed is not None else seed,
                         lr=self.lr or spec.default_lr, optimizer_params=params,
                         hidden=(self.hidden or DEFAULT_HIDDEN) if self.model == "ffnn" else None,
                         device=self.device, lr_schedule=self.lr_schedule,
                         early_stopping=self.early_stopping.model_dump() if self.early_stopping else None,
                         augmentation=self._augmentation(), label_smoothing=self.label_smoothing)

    def _augmentation(self) -> dict[str, float] | None:
        """Explicit values, whether asked for by preset or not: a job records what it trained with."""
        chosen = AUGMENTATION_PRESETS[self.augmentation] if isinstance(self.augmentation, str) else self.augmentation
        if chosen is None or not any(chosen.model_dump().values()):
            return None
        return chosen.model_dump()


# POST /jobs: what a client may set; every optimizer knob is a top-level field of its own.
JobRequest = create_model("JobRequest", __base__=_JobRequest, __doc__="A training job to queue.",
                          **hyper_parameter_fields(bounded=True))


def describe() -> dict[str, Any]:
    """GET /spec: every choice a client can make, with defaults and rules, for forms and clients."""
    schema = JobRequest.model_json_schema()["properties"]

    def bounds(name: str) -> dict[str, Any]:
        prop = schema[name]
        options = [part for part in prop.get("anyOf", [prop]) if part.get("type") != "null"]
        return {key: value for key, value in options[0].items()
                if key in ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")}

    return {
        "datasets": [{"name": name, "class_names": list(classes), "train_size": TRAIN_SIZE, "test_size": TEST_SIZE,
                      "image_shape": list(IMAGE_SHAPE)} for name, classes in DATASET_CLASSES.items()],
        "models": [{"name": name, "options": {"hidden": {"default": DEFAULT_HIDDEN, **bounds("hidden")}}
                    if name == "ffnn" else {}} for name in ARCHITECTURES],
        "optimizers": [{"name": name, "default_lr": spec.default_lr,
                        "options": {knob: {"default": p.default, "description": p.description, **bounds(knob)}
                                    for knob, p in spec.hyper.items()}} for name, spec in OPTIMIZERS.items()],
        "devices": list(DEVICES),
        "lr_schedules": list(LR_SCHEDULES),
        "augmentation": {
            "presets": {name: preset.model_dump() for name, preset in AUGMENTATION_PRESETS.items()},
            "fields": {name: {"default": prop.get("default"), "description": prop.get("description"),
                              **{k: v for k, v in prop.items() if k in ("type", "minimum", "maximum")}}
                       for name, prop in Augmentation.model_json_schema()["properties"].items()},
        },
        "early_stopping": {name: {"default": prop.get("default"), "description": prop.get("description")}
                           for name, prop in EarlyStopping.model_json_schema()["properties"].items()},
        "statuses": [status.value for status in JobStatus],
        "fields": {name: {"default": schema[name].get("default"), "description": schema[name].get("description"),
                          **bounds(name)}
                   for name in ("epochs", "batch_size", "lr", "seed", "label_smoothing")},
        "rules": ["hidden applies to model 'ffnn' only",
                  *(f"{knob} applies to optimizer {' or '.join(map(repr, optimizers_with(knob)))} only"
                    for knob in HYPER_PARAMETERS),
                  "nesterov needs momentum > 0"],
    }
