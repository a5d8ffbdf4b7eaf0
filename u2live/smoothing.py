"""Temporal smoothing of the model's masks: a still background stops flickering, a moving edge does not lag.

``--smoothing auto`` (the default, also ``motion``) is the motion-compensated state of :mod:`u2live.temporal`: the
mask changes only as much as the picture changed after following the motion. The exponential average below is the
previous default, selectable as ``ema`` (200 ms), ``light``, ``strong`` or a time constant, for comparison.

Per pixel, an exponential moving average in *time* (by pts, not frame count), whose rate rises with the size of the
change: a flicker-sized change (|mask - state| below ``calm``) decays with the full time constant, a motion-sized
change (above ``motion``) passes at once, and changes in between get a proportionally shorter time constant.
Because the decay is ``exp(-dt / tau)``, a frame arriving after a gap of three frame intervals moves the state as far
as three ordinary steps would, so variable frame rates and dropped frames need no special case.

Measured on real footage in ``benchmarks/smoothing.py`` (figures in ``benchmarks/results/smoothing-*.md``).
"""
from __future__ import annotations

import re
from typing import Protocol

from .arrays import namespace
from .errors import InputError
from .temporal import MotionSmoother

#: name -> time constant in seconds of the exponential average (``ema`` was tuned on Megamind frames 0-59)
PRESETS = {"light": 0.1, "ema": 0.2, "strong": 0.3}
MOTION = ("auto", "motion")
OFF = ("none", "off")
MAX_TIME_CONSTANT = 5.0


class Smoother(Protocol):
    """What the pipeline asks of a smoother (:class:`EmaSmoother`, :class:`u2live.temporal.MotionSmoother`):
    its temporal state is its own, by timestamp. Masks are numpy arrays on the CPU path and torch tensors on a GPU
    (:mod:`u2live.kernels`); ``image`` may be the frame's host picture (numpy) while the mask is on a GPU: the GPU
    pipeline hands each smoother that."""

    def update(self, mask, pts: float, image=None, flow=None):
        """The smoothed [S, S] mask for the model's ``mask`` of the frame ``image`` at ``pts`` seconds. ``flow``
        (a :class:`u2live.flow.Flow`): the motion from the last update's frame to this one where it was already
        computed (the live path's carrier), for a smoother that follows the motion; others ignore it."""

    def reset(self) -> None:
        """Forget the past (a new scene or a new run)."""


class EmaSmoother:
    """The exponential moving average by timestamp (``--smoothing ema``, ``light``, ``strong`` or a time
    constant; the default is :class:`u2live.temporal.MotionSmoother`). Explicit per-pixel state:
    ``update(mask, pts)`` returns the smoothed mask; ``reset()`` forgets the past.

    The state has the masks' type (a numpy array, or a torch tensor on their device) and is float32. A pts that
    does not move forward (a seek, a loop, a restarted stream) starts afresh from that frame's mask, so pts must be
    in display order (u2live.sources repairs the permuted timestamps of AVIs with packed B-frames, such as
    Megamind.avi).
    """

    def __init__(self, time_constant: float = PRESETS["ema"], *, calm: float = 0.2, motion: float = 0.7):
        if not 0 < time_constant <= MAX_TIME_CONSTANT or not 0 <= calm < motion <= 1:
            raise ValueError(f"bad smoother settings: tau={time_constant}, calm={calm}, motion={motion}")
        self.time_constant = float(time_constant)
        self.calm = float(calm)
        self.motion = float(motion)
        self.state = None
        self.pts: float | None = None

    def reset(self) -> None:
        self.state = None
        self.pts = None

    def update(self, mask, pts: float, image=None, flow=None):
        """``mask`` [h, w] float32 in [0, 1] at time ``pts`` (seconds) -> the smoothed [h, w] float32 mask.
        ``image`` (the frame) and ``flow`` are not needed here: accepted so every smoother is called alike."""
        if not self._continues(mask, pts):
            self.state, self.pts = mask * 1.0, float(pts)  # a copy: the caller may reuse its mask's memory
            return self.state
        xp = namespace(mask)
        dt = float(pts) - self.pts
        change = xp.abs(mask - self.state)
        # 1 for flicker-sized changes, 0 for motion-sized ones: the share of the time constant that applies
        stillness = 1.0 - _smoothstep(self.calm, self.motion, change)
        keep = xp.exp(-dt / xp.clip(self.time_constant * stillness, 1e-6, None))
        self.state = mask + (self.state - mask) * keep  # a new array: masks already returned stay valid
        self.pts = float(pts)
        return self.state

    def _continues(self, mask, pts: float) -> bool:
        state = self.state
        return (state is not None and float(pts) > self.pts and state.shape == mask.shape
                and type(state) is type(mask) and getattr(state, "device", None) == getattr(mask, "device", None))

    def __repr__(self) -> str:
        return f"EmaSmoother({self.time_constant * 1000:g}ms, calm={self.calm}, motion={self.motion})"


def _smoothstep(low: float, high: float, x):
    t = namespace(x).clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def parse_time_constant(spec: str) -> float | None:
    """Seconds for ``ema``/``light``/``strong``/``80ms``/``0.15s``; None for ``none``. Raises InputError."""
    text = spec.strip().lower()
    if text in OFF:
        return None
    if text in PRESETS:
        return PRESETS[text]
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)", text)
    if match is None:
        raise InputError(f"--smoothing expects auto, motion, ema, light, strong, none or a time such as 80ms or "
                         f"0.15s, got {spec!r}")
    seconds = float(match.group(1)) / (1000.0 if match.group(2) == "ms" else 1.0)
    if not 0 < seconds <= MAX_TIME_CONSTANT:
        raise InputError(f"--smoothing time constant must be above 0 and at most {MAX_TIME_CONSTANT:g}s "
                         f"(use none to turn smoothing off), got {spec!r}")
    return seconds


def make_smoother(spec: str = "auto") -> Smoother | None:
    """The smoother for a ``--smoothing`` value (``update(mask, pts, image=frame)``), or None when it is off."""
    if spec.strip().lower() in MOTION:
        return MotionSmoother()
    seconds = parse_time_constant(spec)
    return None if seconds is None else EmaSmoother(seconds)
