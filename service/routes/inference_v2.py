"""The Open Inference Protocol (KServe v2) beside /predict: server and model metadata, health, infer.

Models by name: `mnist` and `fashion-mnist` are the data set's current default model (shipped or
promoted), `job-{id}` a job's best checkpoint. A model's version is the epoch of the checkpoint that
serves it, so `/versions/{v}` names exactly the weights that answer. Errors are `{"error": "..."}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from mnistlab.spec import DATASET_NAMES
from service.deps import StateDep
from service.errors import DomainError, NotFound
from service.fast_lane import Lane
from service.prediction import Classified, EncodedImage
from service.registry import LoadedModel, ModelRegistry
from service.schemas import MAX_ID
from service.state import AppState
from service.uploads import MAX_FILES, read_body
from service.v2_protocol import (
    HEADER_LENGTH,
    InferInput,
    OutputTensor,
    ProtocolError,
    parse_infer,
    write_response,
)

MAX_IMAGES = 1024  # tensors in the data set's form per request: ~3 MB as FP32, ~30 ms of forward passes
JOB_MODEL = re.compile(r"job-([1-9][0-9]{0,18})")
OUTPUTS = ("probabilities", "label", "class_name")
INPUTS = [{"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]},
          {"name": "image_bytes", "datatype": "BYTES", "shape": [-1]}]
OUTPUT_METADATA = [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                   {"name": "label", "datatype": "INT64", "shape": [-1]},
                   {"name": "class_name", "datatype": "BYTES", "shape": [-1]}]


_PARAMETERS = {"type": "object"}
_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string", "enum": [tensor["name"] for tensor in INPUTS]},
    "datatype": {"type": "string", "enum": ["FP32", "UINT8", "BYTES"]},
    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "data": {"type": "array", "description": "the tensor's elements, flat or nested; left out when its bytes "
                                             "follow the JSON (binary_data_size in its parameters)"},
    "parameters": _PARAMETERS}}
# The body, as the protocol defines it; parse_infer reads it by hand because the binary tensor extension puts raw
# bytes after the JSON (Inference-Header-Content-Length says where the JSON ends).
INFER_DOC = {"requestBody": {"required": True, "description": (
    "The protocol's JSON; or, with the binary tensor extension, that JSON (its length in the "
    "Inference-Header-Content-Length header) followed by each input's raw bytes (binary_data_size in its "
    "parameters)."), "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "enum": list(OUTPUTS)}, "parameters": _PARAMETERS}}},
        "parameters": _PARAMETERS}}}}}}


def protocol_error(error: Exception) -> Response | None:
    """A failure the protocol's way: {"error": "..."} with the domain error's 4xx; None: not ours."""
    if isinstance(error, DomainError):
        return JSONResponse({"error": error.message}, status_code=error.status_code)
    if isinstance(error, RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems}, status_code=400)
    return None


class ProtocolRoute(APIRoute):
    """Answers every failure the protocol's way (`protocol_error`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as error:
                answer = protocol_error(error)
                if answer is None:
                    raise
                return answer

        return route


class ProtocolErrorOut(BaseModel):
    error: str


router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=ProtocolRoute,
                   responses={code: {"model": ProtocolErrorOut} for code in (400, 404, 409, 413)})


def _model(registry: ModelRegistry, name: str, version: str | None) -> LoadedModel:
    if name in DATASET_NAMES:
        model = registry.default(name)
    elif (match := JOB_MODEL.fullmatch(name)) and int(match[1]) <= MAX_ID:
        model = registry.job(int(match[1]))
    else:
        raise NotFound(f"unknown model {name!r}: use {', '.join(DATASET_NAMES)} or job-<id>")
    if version is not None and version != str(model.epoch):
        raise NotFound(f"model {name!r} has no version {version!r}; its version is {model.epoch} "
                       f"(the epoch of the checkpoint serving it)")
    return model


@router.get("")
async def server_metadata(request: Request) -> dict:
    """Server name, version and protocol extensions."""
    return {"name": "mnistlab", "version": request.app.version, "extensions": ["binary_tensor_data"]}


@router.get("/health/live")
async def live() -> dict:
    return {"live": True}


@router.get("/health/ready")
async def ready() -> dict:
    return {"ready": True}


def _metadata(name: str, model: LoadedModel) -> dict:
    return {"name": name, "versions": [str(model.epoch)], "platform": model.platform,
            "inputs": INPUTS, "outputs": OUTPUT_METADATA,
            "parameters": {"dataset": model.dataset, "architecture": model.model, "job_id": model.job_id,
                           "class_names": list(model.class_names), "test_accuracy": model.test_accuracy}}


@router.get("/models/{name}")
def model_metadata(name: str, state: StateDep) -> dict:
    """Inputs and outputs (-1: the batch axis), versions, and what the model is."""
    return _metadata(name, _model(state.registry, name, None))


@router.get("/models/{name}/versions/{version}")
def model_version_metadata(name: str, version: str, state: StateDep) -> dict:
    return _metadata(name, _model(state.registry, name, version))


@router.get("/models/{name}/ready")
def model_ready(name: str, state: StateDep) -> dict:
    _model(state.registry, name, None)
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready")
def model_version_ready(name: str, version: str, state: StateDep) -> dict:
    _model(state.registry, name, version)
    return {"name": name, "ready": True}


def _as_images(tensor: InferInput) -> np.ndarray:
    """images: FP32 in [0, 1] or UINT8 0-255, N x 28 x 28 or N x 1 x 28 x 28, exactly the data set's form."""
    assert tensor.array is not None
    if tensor.shape[1:] not in ((28, 28), (1, 28, 28)):
        raise ProtocolError(f"input 'images' must be [N,28,28] or [N,1,28,28], not {list(tensor.shape)}")
    if tensor.datatype == "UINT8":
        return tensor.array.reshape(-1, 28, 28).astype(np.float32) / 255.0
    if tensor.datatype != "FP32":
        raise ProtocolError(f"input 'images' must be FP32 (in [0, 1]) or UINT8, not {tensor.datatype}")
    images = tensor.array.reshape(-1, 28, 28)
    if len(images) > MAX_IMAGES:
        raise ProtocolError(f"input 'images' holds {len(images):,} images; at most {MAX_IMAGES:,} per request")
    if not ((images >= 0.0) & (images <= 1.0)).all():  # one pass; NaN fails both comparisons
        problem = "NaN or infinite values" if not np.isfinite(images).all() else "values outside [0, 1]"
        raise ProtocolError(f"input 'images' (FP32) holds {problem}: it must hold values in [0, 1], "
                            f"as the data set's images do")
    return images


async def _classify(state: StateDep, model: LoadedModel, tensor: InferInput) -> Classified:
    if tensor.name == "image_bytes":
        if tensor.datatype != "BYTES" or len(tensor.shape) != 1 or tensor.items is None:
            raise ProtocolError("input 'image_bytes' must be BYTES [N], each element an encoded image file")
        if len(tensor.items) > MAX_FILES:
            raise ProtocolError(f"input 'image_bytes' holds {len(tensor.items)} files; at most {MAX_FILES} per "
                                f"request, as for /predict")
        files = [EncodedImage(name=f"image_bytes[{i}]", data=item) for i, item in enumerate(tensor.items)]
        return await state.pipeline.classify_files(model, files)
    if tensor.name == "images":
        if tensor.array is None:
            raise ProtocolError("input 'images' must be FP32 or UINT8, not BYTES")
        return await state.pipeline.classify_arrays(model, _as_images(tensor))
    raise ProtocolError(f"unknown input {tensor.name!r}: send 'images' or 'image_bytes'")


def _output(result: Classified, name: str) -> OutputTensor:
    if name == "probabilities":
        return OutputTensor(name, "FP32", array=result.probabilities.astype(np.float32, copy=False))
    if name == "label":
        return OutputTensor(name, "INT64", array=result.labels.astype(np.int64))
    return OutputTensor(name, "BYTES", items=[class_name.encode() for class_name in result.class_names])


async def _infer(name: str, version: str | None, request: Request, state: StateDep) -> Response:
    body = await read_body(request, limit=state.settings.max_infer_bytes, setting="MNISTLAB_MAX_INFER_BYTES")
    parsed = parse_infer(body, request.headers.get(HEADER_LENGTH))
    if len(parsed.inputs) != 1:
        raise ProtocolError(f"send one input ('images' or 'image_bytes'), not {len(parsed.inputs)}")
    model = await run_in_threadpool(_model, state.registry, name, version) if name.startswith("job-") \
        else _model(state.registry, name, version)
    if parsed.outputs is not None:
        unknown = [o.name for o in parsed.outputs if o.name not in OUTPUTS]
        if unknown:
            raise ProtocolError(f"unknown output {unknown[0]!r}: this model gives {', '.join(OUTPUTS)}")
        wanted = [(o.name, o.binary) for o in parsed.outputs]
    else:
        wanted = [(o, parsed.binary_default) for o in OUTPUTS]
    result = await _classify(state, model, parsed.inputs[0])
    chosen = [(_output(result, name), binary) for name, binary in wanted]
    payload, header_length = write_response(model_name=name, model_version=str(model.epoch),
                                            request_id=parsed.id, outputs=chosen)
    if header_length is None:
        return Response(payload, media_type="application/json")
    return Response(payload, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


@router.post("/models/{name}/infer", openapi_extra=INFER_DOC)
async def infer(name: str, request: Request, state: StateDep) -> Response:
    """Classify `images` (FP32 [N,1,28,28] in [0,1], or UINT8) or `image_bytes` (BYTES [N], image files)."""
    return await _infer(name, None, request, state)


@router.post("/models/{name}/versions/{version}/infer", openapi_extra=INFER_DOC)
async def infer_version(name: str, version: str, request: Request, state: StateDep) -> Response:
    return await _infer(name, version, request, state)


async def _infer_in_lane(request: Request, state: AppState, params: dict[str, str]) -> Response:
    return await _infer(params["name"], params.get("version"), request, state)


LANES = [Lane("POST", re.compile(r"/v2/models/(?P<name>[^/]+)/infer"), "/v2/models/{name}/infer", _infer_in_lane,
              protocol_error),
         Lane("POST", re.compile(r"/v2/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/infer"),
              "/v2/models/{name}/versions/{version}/infer", _infer_in_lane, protocol_error)]
