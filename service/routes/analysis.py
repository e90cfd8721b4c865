"""What a trained model gets wrong: misclassified test images and the confusion matrix."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from mnistlab.datasets import DATASETS
from service import plots
from service.evaluation import Evaluation
from service.predictor import LoadedModel
from service.registry import get_job_with_checkpoint, job_model
from service.schemas import JobId, ConfusionOut, MisclassifiedOut, Mistake, ModelInfo, error_responses

router = APIRouter(prefix="/jobs/{job_id}", tags=["analysis"], responses=error_responses(404, 409))
PNG = {200: {"content": {"image/png": {}}}}


def _evaluate(request: Request, job_id: JobId) -> tuple[LoadedModel, Evaluation]:
    state = request.app.state
    with state.sessions() as session:
        job = get_job_with_checkpoint(session, job_id)
    model = job_model(state.models, state.settings, job)
    return model, state.evaluator.evaluate(model)


@router.get("/misclassified", response_model=MisclassifiedOut)
async def misclassified(job_id: JobId, request: Request, limit: Annotated[int, Query(ge=0, le=10_000)] = 20) -> MisclassifiedOut:
    """Test images the job's best model gets wrong, most confident mistakes first."""
    model, result = await run_in_threadpool(_evaluate, request, job_id)
    names = model.class_names
    wrong = result.mistakes
    examples = [Mistake(index=int(i), true_label=int(result.labels[i]), true_class=names[result.labels[i]],
                        predicted_label=int(result.predicted[i]), predicted_class=names[result.predicted[i]],
                        confidence=float(result.confidence[i])) for i in wrong[:limit]]
    return MisclassifiedOut(model=ModelInfo(**model.describe()), test_images=len(result.labels), count=len(wrong),
                            examples=examples)


def _mistakes_png(request: Request, job_id: JobId, n: int) -> bytes:
    model, result = _evaluate(request, job_id)
    picked = result.mistakes[:n]
    images = request.app.state.data.split(model.dataset, train=False).images[picked, 0].numpy()
    names = model.class_names
    titles = [f"{names[result.labels[i]]} -> {names[result.predicted[i]]}" for i in picked]
    return plots.image_grid(images, titles)


@router.get("/misclassified.png", response_class=Response, responses=PNG)
async def misclassified_png(job_id: JobId, request: Request, n: Annotated[int, Query(ge=1, le=100)] = 18) -> Response:
    """A grid of the most confident mistakes, titled "true -> predicted"."""
    return Response(await run_in_threadpool(_mistakes_png, request, job_id, n), media_type="image/png")


def _confusion(request: Request, job_id: JobId) -> tuple[LoadedModel, np.ndarray]:
    model, result = _evaluate(request, job_id)
    return model, result.confusion()


@router.get("/confusion", response_model=ConfusionOut)
async def confusion(job_id: JobId, request: Request) -> ConfusionOut:
    """The test-set confusion matrix (rows true, columns predicted) and per-class accuracy."""
    model, matrix = await run_in_threadpool(_confusion, request, job_id)
    per_class = (np.diag(matrix) / matrix.sum(axis=1).clip(min=1)).tolist()
    return ConfusionOut(model=ModelInfo(**model.describe()), class_names=list(DATASETS[model.dataset].class_names),
                        matrix=matrix.tolist(), per_class_accuracy=per_class,
                        accuracy=float(np.trace(matrix) / matrix.sum()))


@router.get("/confusion.png", response_class=Response, responses=PNG)
async def confusion_png(job_id: JobId, request: Request) -> Response:
    """The confusion matrix as a picture."""
    def render() -> bytes:
        model, matrix = _confusion(request, job_id)
        return plots.confusion(matrix, model.class_names, title=f"job {job_id}: {model.model} on {model.dataset}, "
                                                                f"epoch {model.epoch}")

    return Response(await run_in_threadpool(render), media_type="image/png")
