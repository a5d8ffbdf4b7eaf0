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

import heapq
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import av
import numpy as np

from .closing import Closing
from .console import stderr_line
from .errors import InputError
from .frame import Frame, VideoInfo, plausible_rate
from .handoff import END, POLL_SECONDS, put_until_stopped

STDIN_NAMES = ("-", "/dev/stdin")
URL_TIMEOUT_SECONDS = 10.0  # opening a stream URL, and each read from it, gives up after this long
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
REORDER_WINDOW = 4  # frames of timestamp reordering repaired (see FileSource._timestamped)


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


def is_url(spec: str) -> bool:
    """``scheme://...`` that FFmpeg can read (http, rtsp, ...); a Windows drive or a file named ``a:b`` is not."""
    scheme, sep, rest = str(spec).partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum() and bool(rest)


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


# ----------------------------------------------------------------------------------------------------------- files

def _open_container(path: str):
    if is_url(path):  # FFmpeg reads it; bounded waits instead of a hang on a server that never answers
        try:
            return av.open(path, metadata_errors="ignore", timeout=(URL_TIMEOUT_SECONDS, URL_TIMEOUT_SECONDS))
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"cannot read {path}: {_network_reason(path, err)}") from err
    if not Path(path).exists():
        raise InputError(f"input not found: {path}")
    if Path(path).is_dir():
        raise InputError(f"expected a video file, got a directory: {path}")
    try:
        return av.open(ffmpeg_name(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError) as err:
        raise InputError(f"cannot read {path} as a video: {err.strerror or err}") from err


def file_url(path: str) -> str:
    """``file:/abs/path``: FFmpeg would take ``12:30.mp4`` for the protocol ``12``."""
    return "file:" + os.path.abspath(path)


def ffmpeg_name(spec: str) -> str:
    """What to hand FFmpeg for an input: a URL as it is, a path as :func:`file_url`."""
    return spec if is_url(spec) else file_url(spec)


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


def _rotation(frame: av.VideoFrame, stream) -> int:
    """Counter-clockwise degrees to turn the picture for display: the display matrix (PyAV's ``frame.rotation``),
    else the legacy clockwise ``rotate`` tag."""
    if frame.rotation:
        return int(frame.rotation)
    tag = stream.metadata.get("rotate")
    return -int(float(tag)) if tag and tag.lstrip("-").replace(".", "").isdigit() else 0


def _frame_count(container, stream, fps: Fraction) -> int | None:
    """The header's frame count, else an estimate from the duration (for progress bars); None when unknown."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return max(1, round(float(stream.duration * stream.time_base * fps)))
    if container.duration:
        return max(1, round(container.duration / av.time_base * float(fps)))
    return None


class FileSource(Source):
    """A video file decoded by PyAV in a reader thread. See the module docstring."""

    MAX_BAD_PACKETS = 100

    def __init__(self, path: str, *, live: bool = False, queue_size: int = 8,
                 log: Callable[[str], None] | None = None, temporary: bool = False, name: str | None = None) -> None:
        super().__init__()
        self.path = str(path)
        self.name = name or self.path  # how messages call it ("-" for a spooled standard input)
        self._temporary = temporary  # a spooled standard input: deleted on close
        self.live = live
        self.log = log or stderr_line
        self.bad_packets = 0
        self._error: BaseException | None = None
        try:
            self._container = _open_container(self.path)
            try:
                self._start(queue_size)
            except BaseException:
                self._container.close()
                raise
        except BaseException:
            self._remove_temporary()
            raise

    def _start(self, queue_size: int) -> None:
        if not self._container.streams.video:
            raise InputError(f"expected a video stream in {self.name}, found none")
        self._stream = stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._origin = stream.start_time or 0  # pts 0 = the video stream's start; sinks align audio to it
        self._decoded = self._decode()
        first = self._next_decoded()
        if first is None:
            raise InputError(f"expected video frames in {self.name}, decoded none")
        self._pending = first
        fps = plausible_rate(stream.average_rate, stream.guessed_rate, stream.base_rate)
        image = self._image(first)
        self.info = VideoInfo(width=image.shape[1], height=image.shape[0], fps=fps,
                              time_base=Fraction(stream.time_base or Fraction(1, 90000)),
                              frames=_frame_count(self._container, stream, fps),
                              audio=self.path if self._container.streams.audio else None,
                              live=self.live)
        self._first_image = image
        self._queue: queue.Queue = queue.Queue(maxsize=1 if self.live else max(1, queue_size))
        self._thread = threading.Thread(target=self._read, name="u2live-file-reader", daemon=True)
        self._thread.start()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Every decodable frame; a damaged packet is skipped (and counted) rather than ending the video."""
        for packet in self._container.demux(self._stream):
            try:
                yield from packet.decode()
            except av.InvalidDataError as err:
                self.bad_packets += 1
                if self.bad_packets > self.MAX_BAD_PACKETS:
                    raise InputError(f"cannot decode {self.name}: more than {self.MAX_BAD_PACKETS} damaged "
                                     f"packets ({err.strerror or err})") from err

    def _next_decoded(self) -> av.VideoFrame | None:
        try:
            return next(self._decoded, None)
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"cannot decode {self.name}: {err.strerror or err}") from err

    def _image(self, frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")  # [H, W, 3]
        turns = round(_rotation(frame, self._stream) / 90) % 4
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def _read(self) -> None:
        """Reader thread: decode, time-stamp, hand over; errors are stored and re-raised by the iterator."""
        try:
            started, decoded = None, 0
            for index, (image, pts) in enumerate(self._timestamped()):
                if self.live:
                    started = started if started is not None else time.perf_counter() - pts
                    if self._stop.wait(max(0.0, started + pts - time.perf_counter())):
                        break
                self._hand_over(Frame(image, pts, index, time.perf_counter()))
                decoded = index + 1
                if self._stop.is_set():
                    break
            if not self._stop.is_set():
                self._warn_if_short(decoded)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer's thread
            self._error = err
        finally:
            if self.bad_packets:
                self.log(f"u2live: warning: skipped {self.bad_packets} damaged packet(s) in {self.name}")
            self._hand_over(END)

    def _warn_if_short(self, decoded: int) -> None:
        """A file that ends well before the frame count its header announces was cut short (a copy or download
        that did not finish): the frames up to the cut are kept, and the user is told (issue 6)."""
        expected = int(self._stream.frames or 0)  # the header's count, not an estimate (wrong for VFR clips)
        if expected and decoded < 0.9 * expected and expected - decoded >= 2:
            self.log(f"u2live: warning: {self.name} ended after {decoded} of the {expected} frames its header "
                     "announces; is it truncated?")

    def _timestamped(self) -> Iterator[tuple[np.ndarray, float]]:
        """(image, seconds from the stream start) in display order. The decoder emits frames in display order but
        some files (AVI with packed B-frames, Megamind.avi among them) carry their timestamps permuted within a
        few frames: a small reorder window hands the sorted stamps out in decode order. Stamps stay the stream's
        own (VFR safe); a missing or still non-increasing one becomes the previous plus one frame period."""
        step = max(1, round(1 / (float(self.info.fps) * self._stream.time_base)))  # one frame, in stream ticks
        images: deque[np.ndarray] = deque()
        stamps: list[int] = []
        frame, newest, last = self._pending, None, None
        self._pending = None
        while frame is not None and not self._stop.is_set():
            raw = frame.pts if frame.pts is not None else frame.dts
            newest = raw if raw is not None else (newest + step if newest is not None else self._origin)
            heapq.heappush(stamps, newest)
            images.append(self._first_image if self._first_image is not None else self._image(frame))
            self._first_image = None
            if len(images) > REORDER_WINDOW:
                last = self._seconds(heapq.heappop(stamps), last, step)
                yield images.popleft(), last
            frame = self._next_decoded()
        while images and not self._stop.is_set():
            last = self._seconds(heapq.heappop(stamps), last, step)
            yield images.popleft(), last

    def _seconds(self, ticks: int, last: float | None, step: int) -> float:
        seconds = float((ticks - self._origin) * self._stream.time_base)
        return seconds if last is None or seconds > last else last + float(step * self._stream.time_base)

    def _hand_over(self, item) -> None:
        if self.live and item is not END:  # newest only: replace what the consumer has not taken yet
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    continue
        put_until_stopped(self._queue, item, self._stop)

    def __iter__(self) -> Iterator[Frame]:
        while not self._closed:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    return
                continue
            if item is END:
                self._put_back_end()
                if self._error is not None:
                    raise self._error
                return
            yield item

    def _put_back_end(self) -> None:
        """Later iterations end at once, too."""
        try:
            self._queue.put_nowait(END)
        except queue.Full:
            pass

    def _release(self) -> None:
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except (queue.Empty, AttributeError):
                break
        if self._thread is None or not self._thread.is_alive():
            self._container.close()
        self._remove_temporary()

    def _remove_temporary(self) -> None:
        if self._temporary:
            Path(self.path).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------------- cameras

def _opencv_capture(target):
    import cv2

    if isinstance(target, int):
        return cv2.VideoCapture(target)
    if target.startswith("/dev/video"):
        return cv2.VideoCapture(target, cv2.CAP_V4L2)
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(URL_TIMEOUT_SECONDS * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(URL_TIMEOUT_SECONDS * 1000)]
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)


def _interruptible(call: Callable, timeout: float):
    """``call()`` in a helper thread: OpenCV's open blocks in C for up to its timeout, where the main thread
    would not see Ctrl-C or SIGTERM; waiting here in short steps lets a stop through at once (the helper is
    abandoned). None when it takes longer than ``timeout``."""
    result: list = []
    helper = threading.Thread(target=lambda: result.append(call()), name="u2live-camera-open", daemon=True)
    helper.start()
    deadline = time.perf_counter() + timeout
    while helper.is_alive() and time.perf_counter() < deadline:
        helper.join(POLL_SECONDS)
    return result[0] if result else None


class CameraSource(Source):
    """A camera, device or stream read by OpenCV in a grabber thread that keeps only the newest frame.

    ``capture_factory(target)`` returns an object with OpenCV's ``VideoCapture`` methods (``isOpened``, ``read``,
    ``set``, ``get``, ``release``); tests pass a fake one, since this machine has no camera."""

    def __init__(self, spec: str, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, capture_factory: Callable | None = None,
                 first_frame_timeout: float = 10.0, stall_timeout: float = 3.0) -> None:
        super().__init__()
        self.spec = str(spec)
        self.stall_timeout = stall_timeout
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._lost: str | None = None
        self._last_ok = time.perf_counter()
        self._cap = self._open(capture_factory or _opencv_capture, width, height, fps)
        self._thread = threading.Thread(target=self._grab, name="u2live-camera-grabber", daemon=True)
        self._thread.start()
        first = self._wait_for(-1, first_frame_timeout)
        if first is None:
            self.close()
            raise InputError(f"camera {self.spec} opened but delivered no frame within {first_frame_timeout:g} s"
                             + (f" ({self._lost})" if self._lost else ""))
        height_px, width_px = first.image.shape[:2]
        self.info = VideoInfo(width=width_px, height=height_px, fps=self._rate(fps), frames=None, audio=None,
                              live=True)

    def _open(self, factory, width, height, fps):
        import cv2

        target = int(self.spec) if self.spec.isdigit() else self.spec
        cap = _interruptible(lambda: factory(target), URL_TIMEOUT_SECONDS + 1.0)
        if cap is None or not cap.isOpened():
            if is_url(self.spec):
                raise InputError(f"cannot open the stream {self.spec}: {_network_reason(self.spec)}")
            raise InputError(f"cannot open camera {self.spec}: no such device, or it is busy")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                            (cv2.CAP_PROP_FPS, fps), (cv2.CAP_PROP_BUFFERSIZE, 1)):
            if value:
                cap.set(prop, float(value))  # a request: the camera may pick the nearest mode it has
        return cap

    def _rate(self, requested) -> Fraction:
        import cv2

        return plausible_rate(float(self._cap.get(cv2.CAP_PROP_FPS) or 0), requested and float(requested))

    def _grab(self) -> None:
        """Grabber thread: newest frame wins; a camera silent for ``stall_timeout`` is declared lost."""
        import cv2

        index, origin = 0, None
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            now = time.perf_counter()
            if not ok or bgr is None:
                if now - self._last_ok > self.stall_timeout:
                    self._set_lost(f"no frame for {self.stall_timeout:g} s")
                    return
                self._stop.wait(0.01)
                continue
            origin = now if origin is None else origin
            frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - origin, index, now)
            with self._cond:
                self._newest, self._last_ok = frame, now
                self._cond.notify_all()
            index += 1

    def _set_lost(self, why: str) -> None:
        with self._cond:
            self._lost = why
            self._cond.notify_all()

    def _wait_for(self, after: int, timeout: float) -> Frame | None:
        """The newest frame with an index above ``after``; None when lost, stopped or timed out."""
        deadline = time.perf_counter() + timeout
        with self._cond:
            while not self._stop.is_set() and self._lost is None:
                if self._newest is not None and self._newest.index > after:
                    return self._newest
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self._cond.wait(min(left, POLL_SECONDS))
        return None

    def __iter__(self) -> Iterator[Frame]:
        after = -1
        while not self._closed:
            frame = self._wait_for(after, self.stall_timeout)
            if self._closed or self._stop.is_set():
                return
            if frame is None:  # the grabber may be stuck inside read(): judge by the clock as well
                why = self._lost or f"no frame for {self.stall_timeout:g} s"
                raise SourceLostError(f"camera {self.spec} stopped delivering frames ({why}); "
                                      "was it unplugged or taken by another program?")
            after = frame.index
            yield frame

    def _release(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._cap.release()
