"""What ``u2live serve`` is configured with, in one immutable place the app, the model pool and the jobs read."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InputError

MIB = 1024 * 1024
#: what one worker's request can cost beyond the loaded model, measured (benchmarks/results/serve-hostile.md): a
#: highlight, the costliest image format, ~90 bytes per image pixel; a running video job ~300 per frame pixel
IMAGE_BYTES_PER_PIXEL = 100
VIDEO_BYTES_PER_PIXEL = 300
SPOOL_BYTES = MIB  # what a request's body holds in memory while it waits (the rest is in a temporary file)
CONNECTION_BYTES = 100 * 1024  # an open connection: h11's head buffer and the transport's read buffer, at most


@dataclass(frozen=True)
class ServeSettings:
    """``model``: keyword arguments of :func:`u2live.backends.create`. ``workers``: model calls and video jobs that
    run at once. ``queue``: image requests that may wait beyond those (more get 503; a place is taken before the
    body is read). ``max_jobs``: video jobs uploading, queued or running (more get 503). ``result_ttl``: seconds
    a finished job's result is kept. ``upload_timeout``: seconds an upload may send nothing (408). ``max_pixels``:
    an image's pixels; ``max_video_pixels``: a video frame's (also at most ``max_pixels``), lower by default since
    a running video job holds ~300 bytes per frame pixel (decode and write queues, the encoder's lookahead)."""

    model: dict = field(default_factory=dict)
    workers: int = 1
    queue: int = 8
    max_upload_bytes: int = 200 * MIB
    max_pixels: int = 50_000_000
    max_video_pixels: int = 8_300_000  # 3840x2160 (4K UHD) is 8.29 Mpx
    max_jobs: int = 4
    result_ttl: float = 3600.0
    api_key: str | None = None
    upload_timeout: float = 10.0

    def __post_init__(self) -> None:
        """Every value checked where it enters (the command's options check them first, with option names)."""
        for name in ("max_upload_bytes", "max_pixels", "max_video_pixels", "result_ttl", "upload_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise InputError(f"{name} must be a finite number above 0, got {value!r}")
        for name, least in (("workers", 1), ("queue", 0), ("max_jobs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InputError(f"{name} must be a whole number of at least {least}, got {value!r}")
        key = self.api_key
        if key is not None and (not isinstance(key, str) or not key or not all("!" <= c <= "~" for c in key)):
            raise InputError("api_key must be printable ASCII without spaces (what an HTTP header carries)")

    @property
    def video_pixels(self) -> int:
        """The largest video frame taken: ``max_video_pixels``, and never more than ``max_pixels``."""
        return min(self.max_video_pixels, self.max_pixels)

    def budget_bytes(self, base: int, connections: int) -> int:
        """The most resident memory this server may use: ``base`` (the process with its model loaded and warmed,
        its video pipeline imported), ``workers`` image requests and ``workers`` video jobs at their pixel limits,
        every admitted body's spool, and ``connections`` open connections."""
        work = self.workers * (IMAGE_BYTES_PER_PIXEL * self.max_pixels + VIDEO_BYTES_PER_PIXEL * self.video_pixels)
        return base + work + (self.workers + self.queue + self.max_jobs) * SPOOL_BYTES \
            + connections * CONNECTION_BYTES
