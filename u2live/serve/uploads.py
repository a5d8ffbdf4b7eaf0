"""Request bodies within limits, and images decoded from bytes the way ``u2live segment`` decodes files.

The size limit is enforced while the body arrives (an ASGI middleware counting bytes), so an oversized upload is
refused before it is held in memory or on disk; a ``Content-Length`` over the limit is refused before reading at
all. An image's pixel count is read from its header and checked before any pixel is decoded, so a small file that
would decode into gigabytes (a decompression bomb) costs nothing. Client file names are never used: uploads are
stored under names this server makes.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path, PureWindowsPath

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import InputError, TooLargeError
from ..images import read_rgb

NO_BODY = "the request has no file: send it as the multipart field 'file' or as the request body"


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes raises :class:`TooLargeError` (answered 413)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _refuse(send, self._message())
        seen = 0

        async def counted_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise TooLargeError(self._message())
            return message

        await self.app(scope, counted_receive, send)

    def _message(self) -> str:
        return f"the upload is over this server's limit of {self.limit / 2**20:g} MiB (--max-upload-mb)"


async def _refuse(send, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def upload_to(request, path: Path) -> int:
    """Writes the request's file (multipart field ``file``, else the raw body) to ``path``; returns its size."""
    upload = await _multipart_file(request)
    if upload is not None:
        size = await run_in_threadpool(_copy, upload.file, path)
    else:
        size = 0
        with path.open("wb") as out:
            async for chunk in request.stream():
                size += out.write(chunk)
    if size == 0:
        raise InputError(NO_BODY)
    return size


def _copy(file, path: Path) -> int:
    with path.open("wb") as out:
        shutil.copyfileobj(file, out, 1 << 20)
        return out.tell()


async def read_upload(request) -> tuple[bytes, str]:
    """The request's file (multipart field ``file``, else the raw body) as bytes, and the name to report it by:
    the base name the client gave (never used as a path), else ``upload``."""
    upload = await _multipart_file(request)
    data = await upload.read() if upload is not None else await request.body()
    if not data:
        raise InputError(NO_BODY)
    return data, client_name(upload.filename if upload is not None else None)


def client_name(filename: str | None) -> str:
    """The last part of a client's file name, for reports only: ``../../x.png`` and ``C:\\x.png`` give ``x.png``."""
    name = PureWindowsPath(filename or "").name  # splits at a slash and at a backslash
    return name if name not in ("", ".", "..") else "upload"


async def _multipart_file(request):
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    form = await request.form()
    unknown = sorted(set(form) - {"file"})
    if unknown:
        raise HTTPException(422, f"unknown form field {unknown[0]!r}: the file goes in the field 'file'")
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise InputError(NO_BODY)
    return upload


def decode_image(file, max_pixels: int) -> np.ndarray:
    """[H, W, 3] uint8 RGB of an uploaded image (bytes or a binary file), read as :func:`u2live.images.read_rgb`
    reads a file: allowed formats only, the pixel count checked from the header before decoding."""
    return read_rgb(io.BytesIO(file) if isinstance(file, bytes) else file, max_pixels=max_pixels,
                    name="the upload")
