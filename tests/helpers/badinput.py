"""Generated hostile /predict requests (shared by tests/system/test_bad_input.py and bench/bad_input.py)."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image

from tests.helpers.images import encode


@dataclass
class BadRequest:
    kind: str
    content: bytes | Iterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    always_4xx: bool = True  # False: a mutation that may still be a valid image (then 200 is right too)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_dimensions_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with a tiny (wrong) body: a few hundred bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _png_chunk(b"IEND", b""))


def _multipart(parts: list[tuple[str, str, bytes]], boundary: str = "mnistlabfuzz") -> tuple[bytes, dict[str, str]]:
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
                    for name, filename, data in parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def bad_requests(count: int, *, seed: int = 0, max_upload_bytes: int = 5_000_000) -> Iterator[BadRequest]:
    rng = random.Random(seed)
    base = Image.effect_mandelbrot((96, 96), (-2, -1.5, 1, 1.5), 60)
    png, jpeg = encode(base, "PNG"), encode(base.convert("RGB"), "JPEG")
    bomb = encode(Image.new("1", (20_000, 20_000)), "PNG")  # 400 MP, ~50 KB on the wire

    def mutated(data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            out[rng.randrange(8, len(out))] = rng.randrange(256)
        return bytes(out)

    def chunked(total: int) -> Iterator[bytes]:
        block = b"\0" * 1_000_000
        for _ in range(total // len(block)):
            yield block

    makers = [
        lambda: BadRequest("random bytes", rng.randbytes(rng.randint(1, 5000)), {"Content-Type": "image/png"}),
        lambda: BadRequest("truncated png", png[:rng.randint(1, len(png) - 20)], {"Content-Type": "image/png"}),
        lambda: BadRequest("truncated jpeg", jpeg[:rng.randint(1, len(jpeg) // 2)], {"Content-Type": "image/jpeg"}),
        lambda: BadRequest("mutated png", mutated(png), {"Content-Type": "image/png"}, always_4xx=False),
        lambda: BadRequest("mutated jpeg", mutated(jpeg), {"Content-Type": "image/jpeg"}, always_4xx=False),
        lambda: BadRequest("polyglot gif/js", b"GIF89a/*" + rng.randbytes(64) + b"*/=alert(1)//",
                           {"Content-Type": "image/gif"}),
        lambda: BadRequest("polyglot pdf/png", b"%PDF-1.4\n" + png, {"Content-Type": "image/png"}),
        lambda: BadRequest("png bomb", bomb, {"Content-Type": "image/png"}),
        lambda: BadRequest("huge dimensions, tiny file", huge_dimensions_png(rng.randint(10_000, 2**31 - 1),
                                                                             rng.randint(10_000, 2**31 - 1)),
                           {"Content-Type": "image/png"}),
        lambda: BadRequest("wrong content type", png, {"Content-Type": rng.choice(
            ["text/plain", "application/json", "application/x-www-form-urlencoded", "video/mp4"])}),
        lambda: BadRequest("multipart without boundary", png, {"Content-Type": "multipart/form-data"}),
        lambda: BadRequest("too many parts", *_multipart([("file", f"{i}.png", png[:40])
                                                          for i in range(rng.randint(65, 300))])),
        lambda: BadRequest("no file part", *_multipart([("other", "x.png", png)])),
        lambda: BadRequest("empty body", b"", {"Content-Type": "image/png"}),
        lambda: BadRequest("too large", b"\x89PNG" + b"\0" * (max_upload_bytes + 1), {"Content-Type": "image/png"}),
    ]
    for index in range(count - 1):
        yield makers[index % len(makers)]()
    yield BadRequest("100 MB chunked body", chunked(100_000_000), {"Content-Type": "image/png"})
