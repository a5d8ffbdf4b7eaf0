"""Cameras, V4L2 devices and live stream URLs read by OpenCV in a grabber thread that keeps only the newest frame."""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Callable, Iterator

import cv2

from ..errors import InputError
from ..frame import Frame, VideoInfo, plausible_rate
from ..handoff import POLL_SECONDS
from .base import URL_TIMEOUT_SECONDS, Source, SourceLostError, _network_reason, is_url


def _opencv_capture(target):
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
        return plausible_rate(float(self._cap.get(cv2.CAP_PROP_FPS) or 0), requested and float(requested))

    def _grab(self) -> None:
        """Grabber thread: newest frame wins; a camera silent for ``stall_timeout`` is declared lost."""
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
