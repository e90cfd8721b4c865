"""What a trained model gets wrong: misclassified test images and the confusion matrix."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from service import plots
from service.deps import DataDep, EvaluatorDep, FiguresDep, RegistryDep
from service.evaluation import DataCache, Evaluation, Evaluator
from service.errors import Invalid
from service.figure_cache import FigureCache
from service.imaging import to_png_base64
from service.registry import LoadedModel, ModelRegistry
from service.schemas import (
    ConfusionOut,
    JobId,
    MisclassifiedOut,
    Mistake,
    ModelInfo,
    error_responses,
)

router = APIRouter(prefix="/jobs/{job_id}", tags=["analysis"], responses=error_responses(404, 409))
PNG = {200: {"content": {"image/png": {}}}}


def _evaluate(registry: ModelRegistry, evaluator: Evaluator, job_id: JobId) -> tuple[LoadedModel, Evaluation]:
    model = registry.job(job_id)
    return model, evaluator.evaluate(model)


MAX_WITH_IMAGES = 1_000  # examples per answer when each carries its image (a cell never holds more)


def _misclassified(registry: ModelRegistry, evaluator: Evaluator, data: DataCache, job_id: JobId, limit: int,
                   true_label: int | None, predicted_label: int | None, images: bool) -> MisclassifiedOut:
    model, result = _evaluate(registry, evaluator, job_id)
    names = model.class_names
    wrong = result.mistakes
    if true_label is not None:
        wrong = wrong[result.labels[wrong] == true_label]
    if predicted_label is not None:
        wrong = wrong[result.predicted[wrong] == predicted_label]
    pixels = data.split(model.dataset, train=False).images if images else None
    examples = [Mistake(index=int(i), true_label=int(result.labels[i]), true_class=names[result.labels[i]],
                        predicted_label=int(result.predicted[i]), predicted_class=names[result.predicted[i]],
                        confidence=float(result.confidence[i]),
                        image_png=None if pixels is None else to_png_base64(pixels[i, 0].numpy()))
                for i in wrong[:limit]]
    return MisclassifiedOut(model=ModelInfo(**model.describe()), test_images=len(result.labels), count=len(wrong),
                            examples=examples)


@router.get("/misclassified", response_model=MisclassifiedOut)
async def misclassified(job_id: JobId, registry: RegistryDep, evaluator: EvaluatorDep, data: DataDep,
                        limit: Annotated[int, Query(ge=0, le=10_000)] = 20,
                        true_label: Annotated[int | None, Query(ge=0, le=9, description="only images of this class")] = None,
                        predicted_label: Annotated[int | None, Query(ge=0, le=9, description="only images taken for "
                                                                    "this class")] = None,
                        images: Annotated[bool, Query(description="each example with its 28x28 image as a base64 "
                                                                  f"PNG, a drill-down in one request (limit at most "
                                                                  f"{MAX_WITH_IMAGES:,})")] = False,
                        ) -> MisclassifiedOut:
    """Test images the job's best model gets wrong, most confident mistakes first.

    With `true_label` and `predicted_label`: the images behind one cell of the confusion matrix (`count` is
    the cell's). The evaluation is kept per checkpoint, so after the first call this answers from memory."""
    if true_label is not None and true_label == predicted_label:
        raise Invalid(("query", "predicted_label"), f"true_label and predicted_label are both {true_label}: "
                      "those images are classified correctly, not mistakes")
    if images and limit > MAX_WITH_IMAGES:
        raise Invalid(("query", "limit"), f"with images=true, limit is at most {MAX_WITH_IMAGES:,} (got {limit:,})")
    return await run_in_threadpool(_misclassified, registry, evaluator, data, job_id, limit, true_label,
                                   predicted_label, images)


def _mistakes_png(registry: ModelRegistry, evaluator: Evaluator, data: DataCache, figures: FigureCache, job_id: JobId,
                  n: int) -> bytes:
    model, result = _evaluate(registry, evaluator, job_id)
    picked = result.mistakes[:n]
    images = data.split(model.dataset, train=False).images[picked, 0].numpy()
    names = model.class_names
    titles = [f"{names[result.labels[i]]} -> {names[result.predicted[i]]}" for i in picked]
    return figures.png(plots.image_grid, images, titles)


@router.get("/misclassified.png", response_class=Response, responses=PNG)
async def misclassified_png(job_id: JobId, registry: RegistryDep, evaluator: EvaluatorDep, data: DataDep,
                            figures: FiguresDep,
                            n: Annotated[int, Query(ge=1, le=100)] = 18) -> Response:
    """A grid of the most confident mistakes, titled "true -> predicted"."""
    png = await run_in_threadpool(_mistakes_png, registry, evaluator, data, figures, job_id, n)
    return Response(png, media_type="image/png")


def _confusion(registry: ModelRegistry, evaluator: Evaluator, job_id: JobId) -> tuple[LoadedModel, np.ndarray]:
    model, result = _evaluate(registry, evaluator, job_id)
    return model, result.confusion()


@router.get("/confusion", response_model=ConfusionOut)
async def confusion(job_id: JobId, registry: RegistryDep, evaluator: EvaluatorDep) -> ConfusionOut:
    """The test-set confusion matrix (rows true, columns predicted) and per-class accuracy."""
    model, matrix = await run_in_threadpool(_confusion, registry, evaluator, job_id)
    per_class = (np.diag(matrix) / matrix.sum(axis=1).clip(min=1)).tolist()
    return ConfusionOut(model=ModelInfo(**model.describe()), class_names=list(model.class_names),
                        matrix=matrix.tolist(), per_class_accuracy=per_class,
                        accuracy=float(np.trace(matrix) / matrix.sum()))


@router.get("/confusion.png", response_class=Response, responses=PNG)
async def confusion_png(job_id: JobId, registry: RegistryDep, evaluator: EvaluatorDep, figures: FiguresDep) -> Response:
    """The confusion matrix as a picture."""
    def render() -> bytes:
        model, matrix = _confusion(registry, evaluator, job_id)
        return figures.png(plots.confusion, matrix, model.class_names,
                           title=f"job {job_id}: {model.model} on {model.dataset}, epoch {model.epoch}")

    return Response(await run_in_threadpool(render), media_type="image/png")
