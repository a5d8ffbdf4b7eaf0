"""Frame sources: video files through PyAV, cameras and network streams through OpenCV.

``open_source(spec, live=...)`` returns a :class:`Source`: a context manager and an iterable of
:class:`~u2live.frame.Frame` with an ``info`` (:class:`~u2live.frame.VideoInfo`) known before the first frame.

- A file is decoded in a reader thread into a bounded queue. Offline it never drops a frame (completeness beats
  latency); with ``live=True`` it stands in for a camera: paced at its own frame rate, only the newest frame kept.
- A camera (index, ``/dev/videoN``) or a stream URL is read by an OpenCV grabber thread that keeps only the newest
  frame (latency beats completeness). When it stops delivering, iteration raises :class:`SourceLostError`.

Every blocking wait has a timeout and re-checks the stop event, so ``close()`` never hangs on a stuck consumer.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import InputError
from .base import Source, SourceLostError, ffmpeg_name, file_url, is_url
from .camera import CameraSource
from .file import FileSource

__all__ = ["CameraSource", "FileSource", "Source", "SourceLostError", "ffmpeg_name", "file_url", "is_url",
           "open_source"]
STDIN_NAMES = ("-", "/dev/stdin")


def open_source(spec: str, *, live: bool, width: int | None = None, height: int | None = None,
                fps: float | None = None, log: Callable[[str], None] | None = None) -> Source:
    """Open ``spec``: a camera index ("0") unless a file of that name exists, a device ("/dev/video0"), a stream
    URL (opened like a camera when ``live``, else read by FFmpeg like a file), ``-`` or ``/dev/stdin`` (read once,
    into a temporary file, so that the audio can be read as well) or a video file. ``width``/``height``/``fps``
    are requests to a camera; a file keeps its own. Any other name is a plain path, ``:`` and ``%`` included."""
    spec = str(spec)
    if spec in STDIN_NAMES:
        return FileSource(_spool_stdin(), live=live, log=log, temporary=True, name=spec)
    camera = spec.isdigit() and not Path(spec).exists()
    if camera or spec.startswith("/dev/video") or (live and is_url(spec)):
        return CameraSource(spec, width=width, height=height, fps=fps)
    return FileSource(spec, live=live, log=log)


def _spool_stdin() -> str:
    """Copy standard input to a temporary file: a pipe can be read once, and the video and the audio are two
    readers. The file goes when the source closes."""
    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("input - reads a video from standard input, and nothing is piped in (cat clip.mp4 | ...)")
    with tempfile.NamedTemporaryFile(prefix="u2live-stdin-", delete=False) as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
    if os.path.getsize(spool.name) == 0:
        os.unlink(spool.name)
        raise InputError("input -: standard input was empty")
    return spool.name
