"""Request bodies within limits of size and time, and images decoded the way ``u2live segment`` decodes files.

What a client can cost is bounded before its bytes arrive: the size limit is enforced while the body arrives (an
ASGI middleware counting bytes; a ``Content-Length`` over the limit is refused before reading at all), and so is
time: a body that sends nothing for ``idle_seconds`` (a client that sent its headers and went quiet), or that
arrives slower than :data:`MIN_UPLOAD_RATE` on average once ``idle_seconds`` have passed (one byte now and then),
is cut off with 408. An image body is spooled to a temporary file beyond :data:`SPOOL_BYTES`, so a queued upload
holds ~1 MiB of memory however large it is, and its pixel count is read from its header before any pixel is
decoded (:func:`u2live.images.read_rgb`). Client file names are never used: uploads are stored under names this
server makes.
"""
from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import time
from pathlib import Path, PureWindowsPath

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import InputError, TooLargeError
from ..images import read_rgb
from .settings import SPOOL_BYTES  # what an upload keeps in memory; the rest waits in TMPDIR

NO_BODY = "the request has no file: send it as the multipart field 'file' or as the request body"
#: the slowest average a body may arrive at, once its first idle_seconds are over: 200 MiB take under 2 hours
MIN_UPLOAD_RATE = 32 * 1024


class UploadTimeout(InputError):
    """A request body stalled, or arrived too slowly (answered 408)."""


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes raises :class:`TooLargeError` (answered 413); one that
    stalls for ``idle_seconds``, or averages under :data:`MIN_UPLOAD_RATE` after that, raises
    :class:`UploadTimeout` (408). Once the body is complete, ``receive`` is passed through untouched (it then only
    says whether the client went away)."""

    def __init__(self, app, limit: int, idle_seconds: float = 10.0):
        self.app = app
        self.limit = limit
        self.idle = idle_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await _refuse(send, self._message())
        seen, started, complete = 0, time.monotonic(), False

        async def guarded_receive():
            nonlocal seen, complete
            if complete:
                return await receive()
            message = await self._next(receive)
            seen += len(message.get("body", b""))
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            if seen > self.limit:
                raise TooLargeError(self._message())
            elapsed = time.monotonic() - started
            if not complete and elapsed > self.idle and seen < MIN_UPLOAD_RATE * elapsed:
                raise UploadTimeout(f"the upload arrived at {seen / elapsed / 1024:.1f} KiB/s on average, under "
                                    f"this server's minimum of {MIN_UPLOAD_RATE // 1024} KiB/s; cut off")
            return message

        await self.app(scope, guarded_receive, send)

    async def _next(self, receive):
        try:
            return await asyncio.wait_for(receive(), timeout=self.idle)
        except asyncio.TimeoutError:
            raise UploadTimeout(f"the upload sent nothing for {self.idle:g} s; cut off "
                                "(--upload-timeout)") from None

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


async def read_upload(request) -> tuple[object, str]:
    """The request's file (multipart field ``file``, else the raw body) as a binary file (in memory up to
    :data:`SPOOL_BYTES`, then on disk; the caller closes it), and the name to report it by: the base name the
    client gave (never used as a path), else ``upload``."""
    upload = await _multipart_file(request)
    if upload is not None:
        file, name = upload.file, client_name(upload.filename)
    else:
        file, name = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES), "upload"
        try:
            async for chunk in request.stream():
                file.write(chunk)  # page cache: brief, as upload_to's writes
        except BaseException:
            file.close()
            raise
    if file.seek(0, 2) == 0:
        file.close()
        raise InputError(NO_BODY)
    file.seek(0)
    return file, name


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
    """[H, W, 3] uint8 RGB of an uploaded image (a binary file, or bytes), read as :func:`u2live.images.read_rgb`
    reads a file: allowed formats only, the pixel count checked from the header before decoding."""
    return read_rgb(io.BytesIO(file) if isinstance(file, bytes) else file, max_pixels=max_pixels,
                    name="the upload")
