"""POST /predict: classify uploaded images with a data set's default model or a job's best checkpoint."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from service.deps import StateDep
from service.fast_lane import Lane
from service.imaging import to_png_base64
from service.prediction import Classified
from service.schemas import MAX_ID, DatasetName, PredictResponse, error_responses
from service.state import AppState
from service.uploads import MAX_FILES, read_images

router = APIRouter(tags=["predict"], responses=error_responses(400, 404, 409, 413, 415))


def upload_doc(max_files: int) -> dict:
    """The request body of a route that takes images: one as the raw body, or 1 to max_files multipart `file`s."""
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1,
                     "maxItems": max_files}}}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    }}}


def _as_json(result: Classified, *, top_k: int, debug: bool) -> dict:
    names = result.model.class_names
    predictions = []
    for index, ranked in enumerate(result.ranked(top_k)):
        probs = result.probabilities[index]
        prediction = {
            "filename": result.names[index], "label": int(ranked[0]), "class_name": names[ranked[0]],
            "confidence": float(probs[ranked[0]]),
            "top_k": [{"label": int(i), "class_name": names[i], "probability": float(probs[i])} for i in ranked],
        }
        if debug:
            prediction["image_png"] = to_png_base64(result.images[index])
        predictions.append(prediction)
    return {"model": result.model.describe(), "predictions": predictions}


class PredictQuery(BaseModel):
    dataset: DatasetName = "mnist"
    job_id: int | None = Field(None, ge=1, le=MAX_ID, description="a job's best checkpoint instead of the default")
    top_k: int = Field(3, description="clamped to 1..10")
    debug: bool = Field(False, description="also return the 28x28 image the model saw")


@router.post("/predict", response_model=PredictResponse, openapi_extra=upload_doc(MAX_FILES))
async def predict(request: Request, state: StateDep, query: Annotated[PredictQuery, Query()]) -> JSONResponse:
    """Classify one image (raw body) or up to 64 (multipart fields named `file`)."""
    files = await read_images(request, limit=state.settings.max_upload_bytes)
    if query.job_id is not None:  # a job's model is read from disk once, then cached: off the event loop
        model = await run_in_threadpool(state.registry.job, query.job_id)
    else:
        model = state.registry.default(query.dataset)
    result = await state.pipeline.classify_files(model, files)
    return JSONResponse(_as_json(result, top_k=min(max(query.top_k, 1), 10), debug=query.debug))


async def _predict_in_lane(request: Request, state: AppState, _params: dict[str, str]) -> Response:
    try:
        query = PredictQuery.model_validate(dict(request.query_params))
    except ValidationError as error:  # answered by FastAPI's own handler, as for the documented route
        errors = [{**e, "loc": ("query", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return await predict(request, state, query)


LANES = [Lane("POST", re.compile("/predict"), "/predict", _predict_in_lane)]
