"""The FastAPI app: routes, the API key, and one JSON shape for every failure, ``{"error": "one line"}``.

Nothing here fetches a URL or opens a path a client names: images are read from the request, video uploads are
stored under names the job manager makes, and ``bg`` takes colours, ``blur`` and ``transparent`` but no files.
:mod:`u2live.backgrounds` and :mod:`u2live.smoothing` (torch) are imported when a request first checks ``bg`` or
``smoothing``, so that the server starts at once.
"""
from __future__ import annotations

import functools
import hmac
import re
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import BusyError, InputError, TooLargeError
from ..options import DEFAULT_BACKGROUND, DEFAULT_MODE, DEFAULT_SMOOTHING
from ..spec import RunSpec
from .inference import ModelPool
from .jobs import JobManager
from .settings import ServeSettings
from .ranges import check_range
from .uploads import BodyLimit, UploadTimeout, read_upload, upload_to
from .work import probe_video, run_video, segment_bytes

PAGE = Path(__file__).parent / "page"
# what parse_background reads without touching the file system
SERVER_BACKGROUND = re.compile(r"(?i)color:.*|#[0-9a-f]{6}|blur(:.*)?|transparent")
BODY_DOC = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


def create_app(settings: ServeSettings, *, on_failure=None) -> FastAPI:
    """The app over one model; ``on_failure(message)`` is called if the model cannot be loaded."""
    pool = ModelPool(settings.model, workers=settings.workers, queue=settings.queue, on_failure=on_failure)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        pool.start()
        root = Path(tempfile.mkdtemp(prefix="u2live-serve-"))
        run = functools.partial(_run_job, pool, settings.video_pixels)
        app.state.jobs = JobManager(root, run, workers=settings.workers, max_jobs=settings.max_jobs,
                                    result_ttl=settings.result_ttl)
        try:
            yield
        finally:
            app.state.jobs.close()
            pool.close()

    app = FastAPI(title="u2live", version=__version__, lifespan=lifespan,
                  description="Background removal with U2-Net†: still images and whole videos.")
    app.state.pool, app.state.settings = pool, settings
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, idle_seconds=settings.upload_timeout)
    _add_error_handlers(app)
    _add_routes(app, pool, settings)
    app.mount("/page", StaticFiles(directory=PAGE), name="page")
    return app


def _run_job(pool: ModelPool, max_pixels: int, job) -> None:
    run_video(pool.segmenter, job, max_pixels=max_pixels)


def _add_routes(app: FastAPI, pool: ModelPool, settings: ServeSettings) -> None:
    keyed = [Depends(functools.partial(_check_key, settings.api_key))]

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(PAGE / "index.html", media_type="text/html")

    @app.get("/health", summary="The server is up (the model may still be loading)")
    async def health():
        return {"status": "ok"}

    @app.get("/ready", summary="The model is loaded and warmed up", responses={503: {"description": "loading"}})
    async def ready():
        if not pool.ready:
            raise BusyError(pool.error or "the model is still loading", retry_after=5)
        return {"status": "ready", "model": pool.description, "version": __version__}

    @app.post("/v1/segment", dependencies=keyed, openapi_extra=BODY_DOC,
              summary="One image: its mask, cut-out, box or highlight, as `u2live segment` makes it",
              responses={200: {"content": {"image/png": {}, "application/json": {}},
                                    "description": "PNG (mask, cutout, highlight) or the box record (JSON)"}})
    async def segment(request: Request,
                      format: Literal["mask", "cutout", "box", "highlight"] = Query("mask"),  # noqa: A002
                      bg: str | None = Query(None, description="cutout: composite over color:R,G,B, #RRGGBB "
                                             "or blur[:RADIUS] instead of transparency"),
                      threshold: float = Query(0.5, ge=0.0, le=1.0, description="box, highlight: mask threshold")):
        _only_params(request, {"format", "bg", "threshold"})
        if bg is not None:
            if format != "cutout":
                raise HTTPException(422, f"bg applies to format=cutout, not format={format}")
            _server_background(bg)
        slot = pool.reserve()  # before the body is read: a request that cannot be served costs no upload
        try:
            upload, name = await read_upload(request)
        except BaseException:
            slot.release()
            raise
        with upload:
            work = functools.partial(segment_bytes, fmt=format, bg=bg, threshold=threshold, name=name,
                                     max_pixels=settings.max_pixels)
            content, media_type = await pool.run(slot, work, upload)
        return Response(content, media_type=media_type)

    @app.post("/v1/videos", dependencies=keyed, status_code=202, openapi_extra=BODY_DOC,
              summary="A video job, as `u2live video` runs it: 202 and the job's id")
    async def create_video(request: Request, bg: str = Query(DEFAULT_BACKGROUND),
                           mode: Literal["composite", "matte"] = Query(DEFAULT_MODE),
                           smoothing: str = Query(DEFAULT_SMOOTHING), max_frames: int | None = Query(None, ge=1)):
        _only_params(request, {"bg", "mode", "smoothing", "max_frames"})
        spec = RunSpec("", background=_server_background(bg), mode=mode, smoothing=_smoothing(smoothing),
                       max_frames=max_frames, progress=False)  # its source and output: the job's files
        if not pool.ready:
            raise BusyError(pool.error or "the model is still loading", retry_after=5)
        jobs: JobManager = app.state.jobs
        job = jobs.create(spec)
        try:
            await upload_to(request, job.input)
            await run_in_threadpool(probe_video, job.input, settings.video_pixels)
        except BaseException:
            jobs.delete(job.id)
            raise
        jobs.start(job)
        return JSONResponse(job.status(), status_code=202, headers={"Location": f"/v1/videos/{job.id}"})

    @app.get("/v1/videos/{job_id}", dependencies=keyed, summary="A job's state and progress")
    async def video_status(job_id: str):
        return _job(app, job_id).status()

    @app.get("/v1/videos/{job_id}/result", dependencies=keyed, summary="The finished video (range requests)")
    async def video_result(job_id: str, request: Request):
        job = _job(app, job_id)
        if job.state != "done":
            raise HTTPException(409, f"job {job_id} is {job.state}, not done")
        check_range(request.headers.get("range"), job.result.stat().st_size)
        return FileResponse(job.result, media_type="video/webm" if job.result.suffix == ".webm" else "video/mp4",
                            filename=f"u2live-{job_id}{job.result.suffix}", content_disposition_type="inline")

    @app.delete("/v1/videos/{job_id}", dependencies=keyed, status_code=204, summary="Cancel and remove a job")
    async def delete_video(job_id: str):
        _job(app, job_id)
        await run_in_threadpool(app.state.jobs.delete, job_id)
        return Response(status_code=204)


def _job(app: FastAPI, job_id: str):
    try:
        return app.state.jobs.get(job_id)
    except KeyError:
        raise HTTPException(404, f"no video job {job_id!r} (unknown, deleted or expired)") from None


def _check_key(expected: str | None, request: Request) -> None:
    if expected is None:
        return
    given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "a valid API key is required: header X-API-Key or Authorization: Bearer KEY",
                            headers={"WWW-Authenticate": "Bearer"})


def _only_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HTTPException(422, f"unknown parameter {unknown[0]!r}: expected {', '.join(sorted(allowed))}")


def _server_background(value: str):
    """The ``bg`` a client may ask for: a colour, ``blur[:RADIUS]`` or ``transparent``, never a file or URL."""
    from ..backgrounds import parse_background

    if not SERVER_BACKGROUND.fullmatch(value.strip()):
        raise HTTPException(422, f"bg must be color:R,G,B, #RRGGBB, blur[:RADIUS] or transparent, got {value!r} "
                                 "(the server reads no files and fetches no URLs)")
    try:
        return parse_background(value)
    except InputError as err:
        raise HTTPException(422, f"bg: {err}") from err


def _smoothing(value: str) -> str:
    from ..smoothing import make_smoother

    try:
        make_smoother(value)
    except (InputError, ValueError) as err:
        raise HTTPException(422, f"smoothing: {err}") from err
    return value


def _add_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and routing's 404/405 alike
    async def http_error(request, exc):
        return error(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(TooLargeError)
    async def too_large(request, exc):
        return error(413, str(exc))

    @app.exception_handler(UploadTimeout)
    async def too_slow(request, exc):
        return error(408, str(exc), {"Connection": "close"})

    @app.exception_handler(InputError)
    async def bad_input(request, exc):
        return error(400, str(exc))

    @app.exception_handler(BusyError)
    async def busy(request, exc):
        return error(503, str(exc), {"Retry-After": str(exc.retry_after)})
