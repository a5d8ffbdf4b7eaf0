"""What ``u2live serve`` is configured with, in one immutable place the app, the model pool and the jobs read."""
from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """``model``: keyword arguments of :func:`u2live.backends.create`. ``workers``: model calls and video jobs that
    run at once. ``queue``: image requests that may wait beyond those (more get 503; a place is taken before the
    body is read). ``max_jobs``: video jobs uploading, queued or running (more get 503). ``result_ttl``: seconds
    a finished job's result is kept. ``upload_timeout``: seconds an upload may send nothing (408)."""

    model: dict = field(default_factory=dict)
    workers: int = 1
    queue: int = 8
    max_upload_bytes: int = 200 * MIB
    max_pixels: int = 50_000_000
    max_jobs: int = 4
    result_ttl: float = 3600.0
    api_key: str | None = None
    upload_timeout: float = 10.0
