"""POST /explain: /predict's answer with what the model looked at (service/explanations.py, by Captum)."""

from __future__ import annotations

import copy
from typing import Annotated

import numpy as np
import torch
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from service import explanations
from service.deps import StateDep
from service.errors import Invalid
from service.imaging import to_png_base64
from service.prediction import Classified
from service.registry import LoadedModel
from service.routes.predict import upload_doc
from service.schemas import (
    MAX_ID,
    AttributionOut,
    DatasetName,
    ExplainResponse,
    Explanation,
    FeatureMapsOut,
    FiltersOut,
    JobId,
    ModelInfo,
    error_responses,
)
from service.uploads import read_images

router = APIRouter(tags=["predict"], responses=error_responses(400, 404, 409, 413, 415))

# Each explained image costs Integrated Gradients' 128 forward and backward passes, so a request explains at
# most this many (/predict classifies up to 64): the cost of one request stays bounded.
MAX_EXPLAINED = 16


class ExplainQuery(BaseModel):
    dataset: DatasetName = "mnist"
    job_id: int | None = Field(None, ge=1, le=MAX_ID, description="a job's best checkpoint instead of the default")
    method: list[explanations.Method] | None = Field(
        None, description="integrated_gradients (every model), grad_cam (models with convolutions); "
                          "default: every method that applies to the model")
    feature_maps: bool = Field(True, description="each convolution's feature maps for each image")
    filters: bool = Field(False, description="the model's first-layer filters (the linear model: its class templates)")


def _filters(module: torch.nn.Sequential) -> FiltersOut:
    found = explanations.first_layer_filters(module)
    return FiltersOut(kind=found.kind, layer=found.layer, shape=list(found.weights.shape),
                      values=found.weights.round(6).tolist(), png=explanations.grid_png(found.weights, signed=True))


def _explain(model: LoadedModel, classified: Classified, methods: list[explanations.Method],
             with_maps: bool, with_filters: bool) -> ExplainResponse:
    module = copy.deepcopy(model.module)  # Captum's hooks stay on this copy (see service/explanations.py)
    images = torch.from_numpy(classified.images).reshape(-1, 1, 28, 28)
    targets = torch.from_numpy(classified.labels.astype(np.int64))
    attributions = {method: (explanations.integrated_gradients if method == "integrated_gradients"
                             else explanations.grad_cam)(module, images, targets) for method in methods}
    maps = explanations.feature_maps(module, images) if with_maps else [[] for _ in range(len(images))]
    names = model.class_names
    out = []
    for n, image in enumerate(classified.images):
        label = int(targets[n])
        out.append(Explanation(
            filename=classified.names[n], label=label, class_name=names[label],
            confidence=float(classified.probabilities[n][label]),
            probabilities=[float(p) for p in classified.probabilities[n]], image_png=to_png_base64(image),
            attributions={method: AttributionOut(values=found[n].values.round(6).tolist(),
                                                 overlay_png=explanations.overlay_png(image, found[n].values),
                                                 convergence_delta=found[n].convergence_delta, layer=found[n].layer)
                          for method, found in attributions.items()},
            feature_maps=[FeatureMapsOut(layer=m.layer, shape=list(m.maps.shape),
                                         png=explanations.grid_png(m.maps, signed=False)) for m in maps[n]]))
    filters = _filters(module) if with_filters else None
    return ExplainResponse(model=ModelInfo(**model.describe()), methods=list(methods), explanations=out,
                           filters=filters)


@router.post("/explain", response_model=ExplainResponse, openapi_extra=upload_doc(MAX_EXPLAINED))
async def explain(request: Request, state: StateDep, query: Annotated[ExplainQuery, Query()]) -> ExplainResponse:
    """Classify images as /predict does, and show why: per image, an attribution map for the predicted class
    (Integrated Gradients; Grad-CAM where the model has convolutions), each convolution's feature maps, and
    optionally the model's first-layer filters. Computed on PyTorch, whatever runtime serves /predict. At most
    16 images a request (a 422 says so)."""
    files = await read_images(request, limit=state.settings.max_upload_bytes)
    if len(files) > MAX_EXPLAINED:
        raise Invalid(("body", "file"), f"explain takes at most {MAX_EXPLAINED} images a request (got "
                                        f"{len(files)}); /predict classifies up to 64")
    if query.job_id is not None:
        model = await run_in_threadpool(state.registry.job, query.job_id)
    else:
        model = state.registry.default(query.dataset)
    methods = list(dict.fromkeys(query.method or explanations.applicable_methods(model.module)))
    for method in methods:
        try:
            explanations.check_method(model.module, model.model, method)
        except explanations.Unexplainable as error:
            raise Invalid(("query", "method"), str(error)) from None
    classified = await state.pipeline.classify_files(model, files)
    return await run_in_threadpool(_explain, model, classified, methods, query.feature_maps, query.filters)


@router.get("/jobs/{job_id}/filters", response_model=FiltersOut, tags=["analysis"])
async def job_filters(job_id: JobId, state: StateDep) -> FiltersOut:
    """The first-layer filters the job learned (its best checkpoint): a CNN's first convolution's kernels,
    the linear model's ten class templates, a hidden layer's first 64 units as 28x28 images."""
    model = await run_in_threadpool(state.registry.job, job_id)
    return await run_in_threadpool(_filters, model.module)
