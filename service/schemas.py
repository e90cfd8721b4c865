"""Request bodies and public responses (internal fields such as file paths never leave)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, create_model

# What a job is, its allowed values and its rules: mnistlab/spec.py. Re-exported for the routes.
from mnistlab.spec import (
    Augmentation,
    DatasetName,
    DeviceName,
    EarlyStopping,
    JobRequest,
    LrScheduleName,
    ModelName,
    OptimizerName,
    StatusName,
    hyper_parameter_fields,
)

MAX_ID = 2**63 - 1  # what a database integer key can hold: bigger ids are a 422, not an overflow
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="job id")]
__all__ = ["DatasetName", "DeviceName", "JobRequest", "ModelName", "OptimizerName", "StatusName"]


class ProgressOut(BaseModel):
    epoch: int
    epochs: int
    fraction: float = Field(description="share of all epochs done, 0..1")
    eta_seconds: float | None


class MetricOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


class BestOut(BaseModel):
    epoch: int
    test_accuracy: float


class _JobOut(BaseModel):
    id: int
    status: StatusName
    dataset: DatasetName
    model: ModelName
    optimizer: OptimizerName
    lr: float
    hidden: int | None
    epochs: int
    batch_size: int
    device: DeviceName
    seed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    attempts: int
    ran_on: str | None
    worker_id: str | None = Field(description="the worker running it now (host-pid-suffix); null unless running")
    progress: ProgressOut
    latest: MetricOut | None
    best: BestOut | None
    steps_per_epoch: int
    last_batch_size: int
    init_hash: str
    waiting_for: str | None = Field(description="why a queued job has not started yet")
    lr_schedule: LrScheduleName
    early_stopping: EarlyStopping | None
    stopped_early: str | None = Field(description="why a succeeded job ended before its last epoch")
    augmentation: Augmentation | None = Field(description="what each training image went through (explicit "
                                                          "values, also when asked for by preset); null: none")
    label_smoothing: float
    environment: dict[str, str] | None = Field(description="what trained it, beside its settings and seed: the "
                                                           "mnistlab, torch and Python versions and the sha256 of "
                                                           "the data set's files (null until a worker starts it)")


# A job as the API shows it: its config with each optimizer knob top-level (null where it does not apply).
JobOut = create_model("JobOut", __base__=_JobOut, **hyper_parameter_fields(bounded=False))


class JobList(BaseModel):
    total: int
    jobs: list[JobOut]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: int | None = Field(description="null: the model shipped with mnistlab")
    dataset: str
    model: str
    epoch: int
    test_accuracy: float | None


class ClassProbability(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: int
    class_name: str
    probability: float


class Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str
    label: int
    class_name: str
    confidence: float
    top_k: list[ClassProbability]
    image_png: str | None = Field(None, description="with ?debug=true: the 28x28 image the model saw, base64 PNG")


class PredictResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")  # /predict answers exactly this: its test checks

    model: ModelInfo
    predictions: list[Prediction]


class AttributionOut(BaseModel):
    values: list[list[float]] = Field(description="28 x 28 attributions to the predicted class")
    overlay_png: str = Field(description="the image in grey under the map (red: for the class, blue: against), "
                                         "base64 PNG, 28 x 28")
    convergence_delta: float | None = Field(None, description="Integrated Gradients: sum of the attributions "
                                                              "minus (f(image) - f(black image)) for the class")
    layer: str | None = Field(None, description="Grad-CAM: the convolution it was taken after")


class FeatureMapsOut(BaseModel):
    layer: str = Field(description="the convolution (index in the model: layer); its maps after its activation")
    shape: list[int] = Field(description="channels, height, width")
    png: str = Field(description="the channels side by side, 8 to a row, base64 PNG")


class FiltersOut(BaseModel):
    kind: Literal["convolution", "class_templates", "unit_templates"] = Field(
        description="a convolution's kernels; the linear model's ten class templates; a hidden layer's units")
    layer: str
    shape: list[int]
    values: list[list[list[float]]]
    png: str = Field(description="the filters side by side (red positive, blue negative), base64 PNG")


class Explanation(BaseModel):
    filename: str
    label: int
    class_name: str
    confidence: float
    probabilities: list[float] = Field(description="one per class, in label order")
    image_png: str = Field(description="the 28x28 image the model saw, base64 PNG")
    attributions: dict[str, AttributionOut] = Field(description="by method: integrated_gradients, grad_cam")
    feature_maps: list[FeatureMapsOut] = Field(description="each convolution's maps for this image (none without "
                                                           "convolutions, or with feature_maps=false)")


class ExplainResponse(BaseModel):
    model: ModelInfo
    methods: list[str]
    explanations: list[Explanation]
    filters: FiltersOut | None = Field(None, description="with filters=true: the model's first-layer filters")


class ModelsOut(BaseModel):
    defaults: dict[str, ModelInfo]
    jobs: list[ModelInfo]


class DefaultChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: int = Field(ge=1, le=MAX_ID)


class SplitInfo(BaseModel):
    count: int
    label_counts: list[int]
    label_proportions: list[float]


class DatasetOut(BaseModel):
    name: str
    image_shape: list[int]
    class_names: list[str]
    on_disk: bool
    train: SplitInfo | None = Field(None, description="only in GET /datasets/{name}, and only when on disk")
    test: SplitInfo | None = None


class DatasetImagesOut(BaseModel):
    split: str
    label: int | None = Field(description="the class asked for; null: every class")
    count: int = Field(description="how many images the split has (of that class)")
    offset: int
    indices: list[int] = Field(description="this page's image indices (GET /datasets/{name}/images/{index}.png)")
    labels: list[int]


class Mistake(BaseModel):
    index: int = Field(description="index in the test set")
    true_label: int
    true_class: str
    predicted_label: int
    predicted_class: str
    confidence: float
    image_png: str | None = Field(None, description="with ?images=true: the test image, base64 PNG")


class MisclassifiedOut(BaseModel):
    model: ModelInfo
    test_images: int
    count: int
    examples: list[Mistake]


class ConfusionOut(BaseModel):
    model: ModelInfo
    class_names: list[str]
    matrix: list[list[int]] = Field(description="rows: true label, columns: predicted label")
    per_class_accuracy: list[float]
    accuracy: float


class CompareSeries(BaseModel):
    job_id: int
    label: str
    init_hash: str
    metrics: list[MetricOut]


class CompareOut(BaseModel):
    epochs: list[int]
    same_initial_weights: bool
    jobs: list[CompareSeries]


class ErrorOut(BaseModel):
    detail: str


VALIDATION_ERROR = {"description": "Validation Error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/HTTPValidationError"}}}}  # FastAPI's own: service.errors.Invalid is shaped so


def error_responses(*codes: int) -> dict[int | str, dict]:
    """OpenAPI entries for the domain errors a router can answer with: {"detail": "..."}, and for 422 a list
    of problems, each naming its field, as FastAPI's validation errors are."""
    return {code: VALIDATION_ERROR if code == 422 else {"model": ErrorOut} for code in codes}


class TrialOut(BaseModel):
    trial: int
    job_id: int
    status: str
    params: dict[str, Any] = Field(description="the settings this sweep varies, as this trial has them")
    best_test_accuracy: float | None
    epochs_run: int
    seconds: float
    stopped_early: str | None


class SweepOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    planned: int
    counts: dict[str, int] = Field(description="trials by job status")
    space: dict[str, Any] = Field(description="the grid, or the search space")
    sampler: str | None
    pruner: str
    leaderboard: list[TrialOut] = Field(description="trials by best test accuracy, best first")
    best_job_id: int | None = Field(description="make it the default model: PUT /models/{dataset}/default")
