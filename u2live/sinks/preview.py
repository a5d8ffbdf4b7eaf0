"""A preview window (pygame: SDL2 in a wheel for Linux, macOS and Windows) with FPS and capture-to-display latency
overlaid; ``q`` or Esc (or closing the window) stops the run.

u2live depends on ``opencv-python-headless`` (servers, CI, containers), which has no GUI, and installing the GUI
``opencv-python`` beside it breaks both (two packages own the ``cv2`` module). pygame brings its own SDL2 and does not
touch ``cv2``, so ``pip install u2live`` gives a working ``--preview`` wherever there is a display. pygame is
imported only when a preview is asked for (a headless install may lack its SDL libraries; the check says so).
"""
from __future__ import annotations

import os
import platform
import threading
import time

import cv2
import numpy as np

from ..errors import OutputError, raise_interrupt_behind
from ..frame import Frame
from .base import Sink, with_channels

QUIT_KEYS = {ord("q"), ord("Q"), 27}  # 27: Esc
NO_PYGAME = "--preview needs pygame, which is not installed: pip install pygame"
NO_DISPLAY = "--preview needs a display, and none is set (DISPLAY/WAYLAND_DISPLAY): run it in a desktop session"


def preview_unavailable_reason() -> str | None:
    """None when a preview window can open here, else one line saying why not (and what to do)."""
    if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return NO_DISPLAY
    try:
        _pygame()
    except ImportError as err:
        raise_interrupt_behind(err)  # Ctrl-C while it loads is not "not installed"
        return NO_PYGAME
    return None


def _pygame():
    """pygame, imported without the greeting it prints on stdout (it reads PYGAME_HIDE_SUPPORT_PROMPT then)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame


def check_preview() -> None:
    """--preview's needs, checked before any work (Qt/GTK would abort the process without a display)."""
    reason = preview_unavailable_reason()
    if reason:
        raise OutputError(reason)


class PygameWindow:
    """The real window, sized to the first frame. ``show`` draws an RGB image and returns the key pressed (-1 for
    none; Esc when the window was closed)."""

    def __init__(self, title: str) -> None:
        check_preview()
        pygame = _pygame()
        try:
            pygame.display.init()
        except pygame.error as err:
            raise OutputError(f"--preview cannot open a window: {err}") from err
        pygame.display.set_caption(title)
        self.pygame, self.screen = pygame, None

    def show(self, rgb: np.ndarray) -> int:
        pygame = self.pygame
        height, width = rgb.shape[:2]
        if self.screen is None or self.screen.get_size() != (width, height):
            self.screen = pygame.display.set_mode((width, height))
        # pygame surfaces are indexed [x, y]: the frame transposed, as a view
        pygame.surfarray.blit_array(self.screen, rgb.transpose(1, 0, 2))
        pygame.display.flip()
        return self._key()

    def _key(self) -> int:
        key = -1
        for event in self.pygame.event.get():
            if event.type == self.pygame.QUIT:
                key = 27
            elif event.type == self.pygame.KEYDOWN and key < 0:
                key = 27 if event.key == self.pygame.K_ESCAPE else (event.key if event.key < 256 else -1)
        return key

    def close(self) -> None:
        self.pygame.display.quit()


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
    """An RGB copy of ``rgb`` with "xx.x fps  yyy ms" in the top-left corner, on a dark box for legibility."""
    out = np.array(with_channels(np.asarray(rgb), 3))  # [H, W, 3], a new array; white on black: any channel order
    text = f"{fps:4.1f} fps  {latency_ms:4.0f} ms"
    scale = max(0.4, min(out.shape[1], 1280) / 1280 * 0.9)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (tw + 12, th + base + 12), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class PreviewSink(Sink):
    """``PreviewSink(stop_event)``: shows each frame; ``q``/Esc (or closing the window) sets ``stop_event``.

    ``window`` is for tests: an object with ``show(rgb) -> key`` and ``close()`` (a display is a boundary this
    machine cannot cross)."""

    name = "preview"

    def __init__(self, stop_event: threading.Event, *, title: str = "u2live", window=None) -> None:
        self.stop_event = stop_event
        self.window = window if window is not None else PygameWindow(title)
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
