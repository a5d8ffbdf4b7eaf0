"""A preview window (OpenCV highgui) with FPS and capture-to-display latency overlaid; ``q`` or Esc stops the run.

u2live depends on ``opencv-python-headless`` (servers, CI, containers: no GUI libraries, no display). Where that
build, or no display, is all there is, ``--preview`` fails with one line saying how to get a GUI build."""
from __future__ import annotations

import os
import platform
import threading
import time

import numpy as np

from ..errors import OutputError
from ..frame import Frame
from .base import Sink, with_channels

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # 27: Esc
NO_HIGHGUI = ("--preview needs OpenCV with GUI support, and this OpenCV has none (opencv-python-headless): "
              "pip uninstall -y opencv-python-headless && pip install opencv-python")
NO_DISPLAY = "--preview needs a display, and none is set (DISPLAY/WAYLAND_DISPLAY): run it in a desktop session"


def check_preview() -> None:
    """--preview's needs, checked before any work: a display (Qt/GTK would abort the process without one)."""
    if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise OutputError(NO_DISPLAY)


class OpenCVWindow:
    """The real window. ``show`` draws a BGR image and returns the key pressed (-1 for none)."""

    def __init__(self, title: str) -> None:
        import cv2

        if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise OutputError(NO_DISPLAY)  # Qt/GTK would abort the whole process without one
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as err:
            raise OutputError(NO_HIGHGUI) from err

    def show(self, bgr: np.ndarray) -> int:
        import cv2

        cv2.imshow(self.title, bgr)
        return cv2.waitKey(1)

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the GUI loop process the close
        except cv2.error:
            pass


class RateMeter:
    """Frames per second over a sliding window of recent frame times."""

    def __init__(self, window: int = 30) -> None:
        self.window = window
        self.times: list[float] = []

    def tick(self, now: float) -> float:
        self.times = (self.times + [now])[-self.window:]
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


def draw_overlay(rgb: np.ndarray, fps: float, latency_ms: float) -> np.ndarray:
    """A BGR copy of ``rgb`` with "xx.x fps  yyy ms" in the top-left corner, on a dark box for legibility."""
    import cv2

    bgr = cv2.cvtColor(with_channels(np.asarray(rgb), 3), cv2.COLOR_RGB2BGR)  # [H, W, 3], a new array
    text = f"{fps:4.1f} fps  {latency_ms:4.0f} ms"
    scale = max(0.4, min(bgr.shape[1], 1280) / 1280 * 0.9)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(bgr, (0, 0), (tw + 12, th + base + 12), (0, 0, 0), thickness=-1)
    cv2.putText(bgr, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


class PreviewSink(Sink):
    """``PreviewSink(stop_event)``: shows each frame; ``q``/Esc (or closing the window) sets ``stop_event``.

    ``window`` is for tests: an object with ``show(bgr) -> key`` and ``close()`` (a display is a boundary this
    machine cannot cross)."""

    name = "preview"

    def __init__(self, stop_event: threading.Event, *, title: str = "u2live", window=None) -> None:
        self.stop_event = stop_event
        self.window = window if window is not None else OpenCVWindow(title)
        self.meter = RateMeter()
        self.frames = 0

    def write(self, frame: Frame) -> None:
        now = time.perf_counter()
        fps = self.meter.tick(now)
        latency_ms = (now - frame.captured_at) * 1000 if frame.captured_at else 0.0
        key = self.window.show(draw_overlay(frame.image, fps, latency_ms))
        self.frames += 1
        if key is not None and key >= 0 and (key & 0xFF) in QUIT_KEYS:
            self.stop_event.set()

    def _close(self) -> None:
        self.window.close()
