"""Read an upload's body with a size cap (chunked too) and split it into image files."""

from __future__ import annotations

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from service.errors import Invalid, PayloadTooLarge, UnsupportedMediaType
from service.prediction import EncodedImage

MAX_FILES = 64
RAW_TYPES = ("image/", "application/octet-stream")


async def read_body(request: Request, *, limit: int, setting: str = "MNISTLAB_MAX_UPLOAD_BYTES") -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {int(declared):,} bytes is over the {limit:,}-byte limit ({setting})")
    chunks, size = [], 0
    while True:  # receive() itself, not request.stream(): an async generator costs ~10 us a request
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # chunked bodies declare no length: count as they arrive
            raise PayloadTooLarge(f"body is over the {limit:,}-byte limit ({setting})")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parse_multipart(body: bytes, boundary: bytes) -> list[EncodedImage]:
    files: list[EncodedImage] = []
    state: dict = {"headers": {}, "field": b"", "value": b"", "data": []}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_part_begin() -> None:
        state["headers"], state["data"] = {}, []

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        _, options = parse_options_header(state["headers"].get(b"content-disposition", b""))
        if options.get(b"name") != b"file":
            return
        if len(files) == MAX_FILES:
            raise PayloadTooLarge(f"more than {MAX_FILES} files in one request")
        filename = options.get(b"filename", b"").decode("utf-8", "replace") or f"file-{len(files) + 1}"
        files.append(EncodedImage(name=filename, data=b"".join(state["data"])))

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except PayloadTooLarge:
        raise
    except Exception as error:
        raise Invalid(("body",), f"malformed multipart body: {error}") from None
    return files


async def read_images(request: Request, *, limit: int) -> list[EncodedImage]:
    """The uploaded images: multipart fields named `file`, or the raw body as one image."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    media = content_type.decode("latin-1").lower()
    if media == "multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise Invalid(("body",), "multipart body without a boundary")
        files = _parse_multipart(await read_body(request, limit=limit), boundary)
        if not files:
            raise Invalid(("body", "file"), "no image: send it in a multipart field named 'file'")
        return files
    if media and not media.startswith(RAW_TYPES):
        raise UnsupportedMediaType(f"content type {media!r} is not an image: send multipart/form-data with a "
                                   f"'file' field, or the image itself with an image/* content type")
    body = await read_body(request, limit=limit)
    if not body:
        raise Invalid(("body", "file"), "empty body: send an image (multipart field 'file' or the raw bytes)")
    return [EncodedImage(name="body", data=body)]
