"""The built-in benchmark clip: a figure moving over a textured background, encoded with PyAV so decoding is real.

Used when ``u2live bench`` gets no ``--input``. Texture (not a flat colour) keeps the H.264 encoder and decoder
doing real work, and the moving figure gives the model and the temporal smoother something to follow.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..errors import InputError


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """[H, W, 3] uint8: colour gradients plus a checker pattern and fixed noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    checker = ((x // 40 + y // 40) % 2) * 40.0
    image = np.stack([x / width * 180 + checker, y / height * 160 + 40, 200 - checker], axis=-1)
    image += rng.normal(0.0, 12.0, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def draw_figure(image: np.ndarray, t: float) -> np.ndarray:
    """``image`` with a head-and-shoulders shape at time ``t`` in [0, 1) (it crosses the frame and back)."""
    height, width = image.shape[:2]
    cx = width * (0.3 + 0.4 * abs(2 * t - 1))  # left -> right -> left
    y, x = np.ogrid[0:height, 0:width]
    head = ((x - cx) / (0.09 * width)) ** 2 + ((y - 0.35 * height) / (0.16 * height)) ** 2 <= 1
    body = ((x - cx) / (0.22 * width)) ** 2 + ((y - 1.0 * height) / (0.45 * height)) ** 2 <= 1
    out = image.copy()
    out[head | body] = (200, 150, 120)
    out[body & (y > 0.75 * height)] = (40, 60, 140)  # a shirt, so the figure is not one colour
    return out


def write_clip(path: str | Path, *, frames: int = 48, width: int = 640, height: int = 360, fps: int = 24) -> Path:
    """Write an H.264 MP4 of ``frames`` frames to ``path`` and return it."""
    if frames <= 0 or width <= 0 or height <= 0 or width % 2 or height % 2:
        raise InputError(f"synthetic clip needs frames > 0 and even positive sizes, got {frames} frames "
                         f"of {width}x{height}")
    path = Path(path)
    base = background(width, height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            picture = draw_figure(base, index / frames)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder's delayed frames
            container.mux(packet)
    return path
