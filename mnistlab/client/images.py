"""What `Client.predict` accepts, made ready to send: image files for /predict, arrays for the OIP infer route.

Files (paths, bytes, PIL images) go to `/predict` as they are, so the server's own preprocessing (colours,
size, inversion) applies. Arrays already in the data set's form (N x 28 x 28, UINT8 0-255 or floats in
[0, 1]) go to `/v2/models/{name}/infer` as one binary tensor: nothing is encoded or decoded on either side.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


def is_array(images: object) -> bool:
    """An array-like of pixels (numpy, or anything with a shape and a dtype), not a list of files."""
    return hasattr(images, "shape") and hasattr(images, "dtype")


def as_uploads(images: object) -> list[Upload]:
    """One image or a list of them: paths, bytes or PIL images."""
    items = images if isinstance(images, list | tuple) else [images]
    return [_upload(item, index) for index, item in enumerate(items)]


def _upload(item: object, index: int) -> Upload:
    if isinstance(item, str | os.PathLike):
        path = Path(item)
        return Upload(path.name, path.read_bytes())
    if isinstance(item, bytes | bytearray | memoryview):
        return Upload(f"image-{index}", bytes(item))
    if hasattr(item, "save") and hasattr(item, "mode"):  # a PIL image: sent losslessly as PNG
        buffer = io.BytesIO()
        item.save(buffer, format="PNG")  # type: ignore[attr-defined]
        return Upload(f"image-{index}.png", buffer.getvalue())
    raise TypeError(f"cannot send {type(item).__name__} as an image: give paths, bytes, PIL images or an "
                    f"N x 28 x 28 array")


def as_tensor(images: Any) -> np.ndarray:
    """N x 28 x 28 (a single 28 x 28 image, or N x 1 x 28 x 28, also taken): UINT8 kept, floats as FP32."""
    import numpy as np

    array = np.asarray(images)
    if array.shape == (28, 28):
        array = array[None]
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"an array of images must be N x 28 x 28, not {list(array.shape)}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(array, dtype=np.float32)


def infer_body(tensor: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """A binary OIP request asking for the probabilities as binary data too."""
    datatype = "UINT8" if tensor.dtype.name == "uint8" else "FP32"
    payload = tensor.tobytes()
    header = json.dumps({
        "inputs": [{"name": "images", "datatype": datatype, "shape": list(tensor.shape),
                    "parameters": {"binary_data_size": len(payload)}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
    }).encode()
    return header + payload, {HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"}


def probabilities_of(body: bytes, header_length: str | None) -> np.ndarray:
    """The N x 10 probabilities out of an OIP response (binary, or JSON if the server chose it)."""
    import numpy as np

    if header_length is None:
        output = json.loads(body)["outputs"][0]
        return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    length = int(header_length)
    output = json.loads(body[:length])["outputs"][0]
    return np.frombuffer(body[length:], dtype=np.float32).reshape(output["shape"])
