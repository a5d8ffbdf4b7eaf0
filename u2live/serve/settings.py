"""What ``u2live serve`` is configured with, in one immutable place the app, the model pool and the jobs read."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InputError

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

    def __post_init__(self) -> None:
        """Every value checked where it enters (the command's options check them first, with option names)."""
        for name in ("max_upload_bytes", "max_pixels", "result_ttl", "upload_timeout"):
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
