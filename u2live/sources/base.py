"""What every frame source is: :class:`Source` (iterable of frames, ``info`` known before the first, closed once),
the error a lost live source raises, and how inputs are named to FFmpeg and diagnosed on the network."""
from __future__ import annotations

import os
import socket
import threading
from abc import ABC, abstractmethod
from typing import Iterator
from urllib.parse import urlsplit

from ..closing import Closing
from ..errors import InputError
from ..frame import Frame, VideoInfo
from ..images import MAX_PIXELS, check_pixels

URL_TIMEOUT_SECONDS = 10.0  # opening a stream URL, and each read from it, gives up after this long
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


class SourceLostError(InputError):
    """A live source (camera, stream) stopped delivering frames."""


class Source(Closing, ABC):
    """An iterable of :class:`Frame`; ``info`` is known before the first frame. ``close()`` is idempotent, joins
    the reader thread and releases the input; iterating after ``close()`` yields nothing."""

    info: VideoInfo

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        ...

    @abstractmethod
    def _release(self) -> None:
        """Free the input; called once, after the reader thread has ended (or was given up on)."""

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._release()


def is_url(spec: str) -> bool:
    """``scheme://...`` that FFmpeg can read (http, rtsp, ...); a Windows drive or a file named ``a:b`` is not."""
    scheme, sep, rest = str(spec).partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum() and bool(rest)


def file_url(path: str) -> str:
    """``file:/abs/path``: FFmpeg would take ``12:30.mp4`` for the protocol ``12``."""
    return "file:" + os.path.abspath(path)


def ffmpeg_name(spec: str) -> str:
    """What to hand FFmpeg for an input: a URL as it is, a path as :func:`file_url`."""
    return spec if is_url(spec) else file_url(spec)


def open_video(spec, *, max_pixels: int = MAX_PIXELS, name: str | None = None, **kwargs):
    """``av.open`` of a video file or URL (:func:`ffmpeg_name`) whose decoders refuse frames over ``max_pixels``.
    FFmpeg's probe decodes a frame of an image-like stream to learn its size (a 31 KB PNG of 16000x16000: 1 GB);
    told ``max_pixels`` it stops at the header, and so does every video decoder after it. A size the header
    states is checked here: TooLargeError (one line), the container closed. ``kwargs`` go to ``av.open``."""
    import av

    options = {**kwargs.pop("options", {}), "max_pixels": str(max_pixels)}
    container = av.open(ffmpeg_name(str(spec)), options=options, **kwargs)
    try:
        for stream in container.streams.video:
            if stream.codec_context is not None:
                stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(max_pixels)}
                width, height = stream.codec_context.width, stream.codec_context.height
                check_pixels(width, height, max_pixels, f"the video {name or spec}")
    except BaseException:
        container.close()
        raise
    return container


def _network_reason(url: str, err: BaseException | None = None) -> str:
    """Why a stream URL did not open, in plain words: the host unknown, the connection refused or timed out
    (asked of the network directly, since FFmpeg and OpenCV often say only "I/O error")."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    if parts.hostname and port:
        try:
            socket.create_connection((parts.hostname, port), timeout=URL_TIMEOUT_SECONDS).close()
        except socket.gaierror:
            return f"unknown host {parts.hostname}"
        except ConnectionRefusedError:
            return f"connection refused by {parts.hostname}:{port} (is the server running?)"
        except (socket.timeout, TimeoutError):
            return f"connection to {parts.hostname}:{port} timed out"
        except OSError as net:
            return net.strerror or str(net)
    if err is not None:
        return getattr(err, "strerror", None) or str(err)
    return f"the server accepted the connection but sent no video within {URL_TIMEOUT_SECONDS:g} s (timed out)"
