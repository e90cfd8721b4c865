"""POST /predict: classify uploaded images with a data set's default model or a job's best checkpoint."""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.imaging import decode, to_dataset_form, to_png_base64
from service.predictor import LoadedModel
from service.registry import default_model, get_job_with_checkpoint, job_model
from service.schemas import MAX_ID, DatasetName, PredictResponse, error_responses
from service.uploads import UploadedFile, read_images

router = APIRouter(tags=["predict"], responses=error_responses(400, 404, 409, 413, 415))
THREADPOOL_BYTES = 256 * 1024  # decoding more than this would stall other requests: do it off the event loop

UPLOAD_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": 64}}}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
}}}


def _predict(model: LoadedModel, files: list[UploadedFile], *, max_pixels: int, top_k: int, debug: bool) -> dict:
    images = np.stack([to_dataset_form(decode(f.data, max_pixels=max_pixels, name=f.filename), model.dataset)
                       for f in files])
    probabilities = model.probabilities(images)
    names = model.class_names
    predictions = []
    for upload, image, probs in zip(files, images, probabilities, strict=True):
        ranked = np.argsort(-probs)[:top_k]
        prediction = {
            "filename": upload.filename, "label": int(ranked[0]), "class_name": names[ranked[0]],
            "confidence": float(probs[ranked[0]]),
            "top_k": [{"label": int(i), "class_name": names[i], "probability": float(probs[i])} for i in ranked],
        }
        if debug:
            prediction["image_png"] = to_png_base64(image)
        predictions.append(prediction)
    return {"model": model.describe(), "predictions": predictions}


@router.post("/predict", response_model=PredictResponse, openapi_extra=UPLOAD_DOC)
async def predict(request: Request, dataset: DatasetName = "mnist", job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                  top_k: Annotated[int, Query(description="clamped to 1..10")] = 3,
                  debug: bool = False) -> JSONResponse:
    """Classify one image (raw body) or up to 64 (multipart fields named `file`)."""
    started = time.perf_counter()
    state = request.app.state
    settings = state.settings
    files = await read_images(request, limit=settings.max_upload_bytes)
    if job_id is not None:
        with state.sessions() as session:
            job = get_job_with_checkpoint(session, job_id)
        model = job_model(state.models, settings, job)
    else:
        model = default_model(state.models, state.defaults, state.sessions, settings, dataset)
    top_k = min(max(top_k, 1), 10)
    args = (model, files)
    kwargs = {"max_pixels": settings.max_pixels, "top_k": top_k, "debug": debug}
    if sum(len(f.data) for f in files) > THREADPOOL_BYTES:
        body = await run_in_threadpool(_predict, *args, **kwargs)
    else:
        body = _predict(*args, **kwargs)
    state.metrics.predicted_images.labels(model.dataset).inc(len(files))
    state.metrics.prediction_seconds.labels(model.dataset).observe(time.perf_counter() - started)
    return JSONResponse(body)
