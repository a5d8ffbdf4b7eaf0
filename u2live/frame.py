"""The unit that flows through the pipeline, and what a source knows about its stream."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

DEFAULT_FPS = Fraction(30)  # the rate of a stream that states no plausible one


def plausible_rate(*candidates) -> Fraction:
    """The first of ``candidates`` (frame rates as a container, a codec or a camera reports them, best first) that
    is plausible, above 0 and below 1000 fps; else :data:`DEFAULT_FPS`. One rule for files, cameras and background
    clips. A float (OpenCV's) becomes the nearest fraction over at most 1001 (NTSC's 30000/1001)."""
    for rate in candidates:
        if rate and 0 < rate < 1000:
            return Fraction(rate).limit_denominator(1001) if isinstance(rate, float) else Fraction(rate)
    return DEFAULT_FPS


@dataclass
class Frame:
    """One video frame. ``image`` is [H, W, 3] uint8 RGB; ``pts`` is in seconds from the stream start;
    ``index`` counts frames from 0 in decode order; ``captured_at`` is ``time.perf_counter()`` when the frame
    entered the pipeline (for capture-to-sink latency)."""

    image: np.ndarray
    pts: float
    index: int
    captured_at: float = 0.0


@dataclass
class VideoInfo:
    """What a source knows before its first frame. ``frames`` is None when unknown (cameras, streams);
    ``audio`` names the input file whose first audio stream sinks should carry, or None."""

    width: int
    height: int
    fps: Fraction
    time_base: Fraction = field(default_factory=lambda: Fraction(1, 90000))
    frames: int | None = None
    audio: str | None = None
    live: bool = False
