"""The Open Inference Protocol's data model (KServe v2, REST binding), parsed once at the edge.

Requests become `InferInput`s holding numpy arrays (JSON `data` or Triton's binary tensor extension,
length-checked against the header before anything is allocated); results are written back as JSON
tensors or binary ones. The model code never sees JSON.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.errors import DomainError

HEADER_LENGTH = "inference-header-content-length"
DTYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
          "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
          "FP32": np.float32, "FP64": np.float64}


class ProtocolError(DomainError):
    """A request the protocol rejects: 400 (the routes answer it as {"error": "..."})."""

    status_code = 400


@dataclass(frozen=True)
class InferInput:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray | None = None        # numeric tensors
    items: list[bytes] | None = None       # BYTES tensors


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    id: str | None
    inputs: list[InferInput]
    outputs: list[RequestedOutput] | None  # None: every output
    binary_default: bool = False


def _shape(raw: Any, name: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and d >= 0 for d in raw):
        raise ProtocolError(f"input {name!r}: shape must be a list of non-negative integers")
    return tuple(raw)


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for dimension in shape:
        count *= dimension
    return count


def _split_bytes(blob: bytes, name: str) -> list[bytes]:
    """BYTES in binary form: each element a 4-byte little-endian length, then its bytes."""
    items, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ProtocolError(f"input {name!r}: truncated BYTES element length")
        (size,) = struct.unpack_from("<I", blob, offset)
        offset += 4
        if offset + size > len(blob):
            raise ProtocolError(f"input {name!r}: BYTES element of {size} bytes runs past the tensor's data")
        items.append(blob[offset:offset + size])
        offset += size
    return items


def _json_input(raw: dict[str, Any], binary: bytes | None) -> InferInput:
    name = raw.get("name")
    if not isinstance(name, str):
        raise ProtocolError("every input needs a string 'name'")
    datatype = raw.get("datatype")
    if datatype != "BYTES" and datatype not in DTYPES:
        raise ProtocolError(f"input {name!r}: unknown datatype {datatype!r}")
    shape = _shape(raw.get("shape"), name)
    count = _count(shape)
    if binary is not None:
        if datatype == "BYTES":
            items = _split_bytes(binary, name)
            if len(items) != count:
                raise ProtocolError(f"input {name!r}: shape {list(shape)} holds {count} elements, the data {len(items)}")
            return InferInput(name, datatype, shape, items=items)
        dtype = np.dtype(DTYPES[datatype])
        if len(binary) != count * dtype.itemsize:
            raise ProtocolError(f"input {name!r}: {datatype} {list(shape)} needs {count * dtype.itemsize} bytes, "
                                f"got {len(binary)}")
        # A copy: frombuffer views are read-only, and torch wants tensors it may write.
        return InferInput(name, datatype, shape, array=np.frombuffer(binary, dtype=dtype).reshape(shape).copy())
    if "data" not in raw:
        raise ProtocolError(f"input {name!r}: no 'data' and no binary_data_size")
    data = raw["data"]
    if datatype == "BYTES":
        flat = list(_flatten(data))
        if len(flat) != count:
            raise ProtocolError(f"input {name!r}: shape {list(shape)} holds {count} elements, the data {len(flat)}")
        return InferInput(name, datatype, shape, items=[_as_bytes(item, name) for item in flat])
    try:
        array = np.asarray(data, dtype=DTYPES[datatype])
    except (TypeError, ValueError, OverflowError) as error:
        raise ProtocolError(f"input {name!r}: data is not {datatype}: {error}") from None
    if array.size != count:
        raise ProtocolError(f"input {name!r}: shape {list(shape)} holds {count} elements, the data {array.size}")
    return InferInput(name, datatype, shape, array=array.reshape(shape))


def _flatten(data: Any) -> Any:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _as_bytes(item: Any, name: str) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    raise ProtocolError(f"input {name!r}: BYTES elements in JSON must be strings")


def _parameters(holder: dict, where: str) -> dict:
    """A 'parameters' object, empty when absent; anything else is the client's mistake, said as such."""
    parameters = holder.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ProtocolError(f"{where}: 'parameters' must be an object")
    return parameters


def parse_infer(body: bytes, header_length: str | None) -> InferRequest:
    """An /infer body: JSON, or (binary tensor extension) a JSON header followed by the tensors' bytes."""
    if header_length is None:
        head, rest = body, b""
    else:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise ProtocolError(f"Inference-Header-Content-Length {header_length!r} does not fit a body of "
                                f"{len(body)} bytes")
        head, rest = body[:int(header_length)], body[int(header_length):]
    try:
        document = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProtocolError(f"the request is not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list) or not document["inputs"]:
        raise ProtocolError("the request needs a non-empty 'inputs' list")
    offset, inputs = 0, []
    for raw in document["inputs"]:
        if not isinstance(raw, dict):
            raise ProtocolError("each input must be an object")
        size = _parameters(raw, f"input {raw.get('name')!r}").get("binary_data_size")
        binary = None
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(rest):
                raise ProtocolError(f"input {raw.get('name')!r}: binary_data_size {size!r} runs past the body")
            binary, offset = rest[offset:offset + size], offset + size
        inputs.append(_json_input(raw, binary))
    if offset != len(rest):
        raise ProtocolError(f"{len(rest) - offset} bytes of binary data belong to no input")
    binary_default = bool(_parameters(document, "the request").get("binary_data_output", False))
    outputs = None
    if document.get("outputs") is not None:
        if not isinstance(document["outputs"], list) or not all(isinstance(o, dict) for o in document["outputs"]):
            raise ProtocolError("'outputs' must be a list of objects")
        outputs = [RequestedOutput(str(o.get("name")),
                                   bool(_parameters(o, f"output {o.get('name')!r}").get("binary_data", binary_default)))
                   for o in document["outputs"]]
    request_id = document.get("id")
    return InferRequest(id=str(request_id) if request_id is not None else None, inputs=inputs, outputs=outputs,
                        binary_default=binary_default)


@dataclass(frozen=True)
class OutputTensor:
    name: str
    datatype: str
    array: np.ndarray | None = None
    items: list[bytes] | None = None

    @property
    def shape(self) -> list[int]:
        return [len(self.items)] if self.items is not None else list(self.array.shape)  # type: ignore[union-attr]

    def raw(self) -> bytes:
        if self.items is not None:
            return b"".join(struct.pack("<I", len(item)) + item for item in self.items)
        return np.ascontiguousarray(self.array).tobytes()

    def json_data(self) -> list:
        if self.items is not None:
            return [item.decode("utf-8") for item in self.items]
        return self.array.reshape(-1).tolist()  # type: ignore[union-attr]


def write_response(*, model_name: str, model_version: str, request_id: str | None,
                   outputs: list[tuple[OutputTensor, bool]]) -> tuple[bytes, int | None]:
    """(body, JSON header length when any output is binary)."""
    described, blobs = [], []
    for tensor, binary in outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        if binary:
            blob = tensor.raw()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = tensor.json_data()
        described.append(entry)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": described}
    if request_id is not None:
        document["id"] = request_id
    head = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
