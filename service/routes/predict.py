"""POST /predict: classify uploaded images with a data set's default model or a job's best checkpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.deps import StateDep
from service.imaging import to_png_base64
from service.prediction import Classified
from service.schemas import MAX_ID, DatasetName, PredictResponse, error_responses
from service.uploads import read_images

router = APIRouter(tags=["predict"], responses=error_responses(400, 404, 409, 413, 415))

UPLOAD_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": 64}}}},
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


@router.post("/predict", response_model=PredictResponse, openapi_extra=UPLOAD_DOC)
async def predict(request: Request, state: StateDep,
                  dataset: DatasetName = "mnist", job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                  top_k: Annotated[int, Query(description="clamped to 1..10")] = 3,
                  debug: bool = False) -> JSONResponse:
    """Classify one image (raw body) or up to 64 (multipart fields named `file`)."""
    # One dependency, not three: on this hot path each costs a measurable share of a request.
    files = await read_images(request, limit=state.settings.max_upload_bytes)
    if job_id is not None:  # a job's model is read from disk once, then cached: off the event loop
        model = await run_in_threadpool(state.registry.job, job_id)
    else:
        model = state.registry.default(dataset)
    result = await state.pipeline.classify_files_async(model, files)
    return JSONResponse(_as_json(result, top_k=min(max(top_k, 1), 10), debug=debug))
