"""Adaptive quality for live work: the largest inference size and precision that refresh masks at ``TARGET_HZ``.

At start (:func:`choose_segmenter`) the model is measured on real frames for a ladder of settings, best first
(larger size first; at one size, higher precision first), and the first setting fast enough is taken. Not every
rung is measured: a rung's rate is predicted from those measured (a model's cost grows with the pixel count,
size^2; the precisions' ratio comes from a measurement of each) and a rung predicted too slow is skipped. One
stderr line says what was picked and why.

While running, :class:`RefreshGovernor` watches the mask refresh rate the live loop achieves and says when to step
down (sustained below target) or back up (the next better rung predicted to keep the target with margin, for
longer). It is plain logic over timestamps. :class:`AdaptiveSegmenter` applies it: the segmenter the live run
holds, whose model the segmentation worker changes between two masks when the governor says so.

The render load: beside the model, the live loop renders every camera frame (1280x720 at 30 FPS: decoding,
flow, render and encoding take about PICTURE_CORES here). The live model computes on every core, as offline,
but below the picture's priority (:func:`u2live.live.below_the_picture`): it takes what the picture leaves (on 2
cores, quiet, 3 interleaved rounds: 8.2-8.7 masks a second against 7.5-7.7 with one thread, which left part of the
second core idle; latency p50 +3 ms). Measured alone at start, a CPU model's rate is scaled by that share
(:func:`beside_the_picture`).
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends.base import Segmenter
from .backends.onnx_runtime import cpu_threads

TARGET_HZ = 8.0
#: margin on the rate a setting is predicted to reach beside the picture, for what the measurement does not see
HEADROOM = 1.25
#: the cores a live run's picture takes at 1280x720, 30 FPS (decode, flow, render, H.264: 0.7-0.75 measured here,
#: benchmarks/results/live-camera.md); a CPU model gets the rest
PICTURE_CORES = 0.75
#: down to 160: at 128 the masks part from the model's own at 320 by MAE 0.21 on Megamind's frames (a blob over half
#: the picture on some), at 160 by 0.10 (benchmarks/results/live-profile.json): faster masks would not be worth it
SIZES = (320, 288, 256, 224, 192, 160)
PRECISION_RANK = {"fp32": 0, "fp16": 1, "int8": 2}  # better first
CALIBRATION = Path(__file__).parent / "assets" / "calibration"


def beside_the_picture(rate_alone: float, cores: int | None = None) -> float:
    """The refresh rate a CPU model measured alone on every core should reach beside the live picture."""
    cores = cores or cpu_threads()
    return rate_alone * max(cores - PICTURE_CORES, 0.25) / cores


@dataclass(frozen=True)
class Setting:
    size: int
    precision: str

    def __str__(self) -> str:
        return f"{self.precision} {self.size}x{self.size}"


def ladder(sizes: Sequence[int], precisions: Sequence[str]) -> list[Setting]:
    """Every (size, precision), best first: larger size first, then higher precision."""
    return sorted((Setting(s, p) for s in sizes for p in precisions),
                  key=lambda s: (-s.size, PRECISION_RANK.get(s.precision, 9)))


def predict_hz(setting: Setting, measured: dict[Setting, float]) -> float | None:
    """The refresh rate ``setting`` should reach, from measured rates (Hz) at its precision: the nearest size's,
    scaled by pixel count (size^2). None when its precision was not measured."""
    same = [(s, hz) for s, hz in measured.items() if s.precision == setting.precision]
    if not same:
        return None
    s, hz = min(same, key=lambda item: abs(item[0].size - setting.size))
    return hz * (s.size / setting.size) ** 2


def choose(rungs: Sequence[Setting], measure: Callable[[Setting], float], *,
           target_hz: float = TARGET_HZ, headroom: float = HEADROOM) -> tuple[Setting, dict[Setting, float], str]:
    """The first rung whose measured rate reaches ``target_hz * headroom`` (skipping rungs predicted below the
    target), else the fastest (the last rung, measured too). Returns (setting, measured rates, one line why)."""
    needed = target_hz * headroom
    measured: dict[Setting, float] = {}

    def why(setting: Setting, reached: bool) -> str:
        tried = ", ".join(f"{s} {hz:.1f} Hz" for s, hz in measured.items())
        verdict = (f": it reached {needed:.1f} Hz, the larger settings did not or were predicted not to" if reached
                   else f", the fastest setting measured: none reached {needed:.1f} Hz")
        return (f"picked {setting}{verdict} ({target_hz:g} Hz target with {headroom:g}x headroom; measured beside "
                f"the picture: {tried})")

    for rung in rungs:
        guess = predict_hz(rung, measured)
        if guess is not None and guess < target_hz:
            continue  # predicted too slow: not worth loading
        measured[rung] = measure(rung)
        if measured[rung] >= needed:
            return rung, measured, why(rung, True)
    if rungs[-1] not in measured:  # predicted too slow, but the last resort: measured before it is taken
        measured[rungs[-1]] = measure(rungs[-1])
    best = max(measured, key=measured.get)
    return best, measured, why(best, measured[best] >= needed)  # the prediction may have been pessimistic


def measure_hz(segmenter, frames: Sequence[np.ndarray] | None = None, *, seconds: float = 1.5) -> float:
    """Masks per second of ``segmenter`` on real frames (bundled calibration photos), median of up to 8 calls after
    one warm-up, stopping after ``seconds``."""
    frames = list(frames) if frames is not None else calibration_frames()
    segmenter.predict([frames[0]])  # warm-up: first-call allocations, lazy initialisation
    spent, started = [], time.perf_counter()
    for i in range(8):
        begin = time.perf_counter()
        segmenter.predict([frames[i % len(frames)]])
        spent.append(time.perf_counter() - begin)
        if time.perf_counter() - started > seconds and len(spent) >= 3:
            break
    return 1.0 / float(np.median(spent))


def calibration_frames(count: int = 4) -> list[np.ndarray]:
    from .images import read_rgb

    return [read_rgb(path) for path in sorted(CALIBRATION.glob("*.jpg"))[:count]]


def choose_segmenter(create: Callable[[Setting], object], rungs: Sequence[Setting], *, log,
                     target_hz: float = TARGET_HZ):
    """Load and measure segmenters (``create(setting)``, also called later to switch rungs) down the ladder; return
    the chosen one, loaded, as an :class:`AdaptiveSegmenter`, and close the others. ``log`` gets the one line."""
    loaded: dict[Setting, object] = {}

    def measure(setting: Setting) -> float:
        loaded[setting] = create(setting)
        rate = measure_hz(loaded[setting])
        on_cpu = getattr(loaded[setting], "device", None) is None
        return beside_the_picture(rate) if on_cpu else rate  # a GPU's own rate stands

    try:
        setting, measured, why = choose(rungs, measure, target_hz=target_hz)
    except BaseException:
        for segmenter in loaded.values():
            segmenter.close()
        raise
    for other, segmenter in loaded.items():
        if other != setting:
            segmenter.close()
    log(f"u2live: --size/--precision auto -> {why}")
    governor = RefreshGovernor(rungs, setting, measured=measured, target_hz=target_hz)
    return AdaptiveSegmenter(loaded[setting], governor, create, log=log)


class RefreshGovernor:
    """Watches the mask refresh rate during a live run and says when to change rung.

    ``refreshed(now)`` is called each time a new mask arrives (``now`` in seconds); it returns the rung to switch
    to, or None. Down when the rate over the last ``window`` seconds stays below ``target_hz * slack``; up when
    the next better rung is predicted (pixel-count scaling from the current rate) to keep ``target_hz * headroom``
    over ``3 * window``. After a switch the history restarts, so one change settles before the next. ``measured``
    (from :func:`choose`) lets it predict rungs of another precision: their start-up rates, scaled by how the
    current rung's rate moved since start-up.
    """

    def __init__(self, rungs: Sequence[Setting], current: Setting, *, measured: dict[Setting, float] | None = None,
                 target_hz: float = TARGET_HZ, window: float = 3.0, slack: float = 0.9, headroom: float = HEADROOM):
        self.rungs, self.index = list(rungs), list(rungs).index(current)
        self.measured = dict(measured or {})
        self.target_hz, self.window, self.slack, self.headroom = target_hz, window, slack, headroom
        self.times: deque[float] = deque()
        self.started: float | None = None
        self.last_rate: float | None = None  # masks per second, as last measured

    @property
    def current(self) -> Setting:
        return self.rungs[self.index]

    def refreshed(self, now: float) -> Setting | None:
        self.started = now if self.started is None else self.started
        self.times.append(now)
        while self.times and self.times[0] < now - 3 * self.window:
            self.times.popleft()
        rate = self.last_rate = self._rate(now, self.window)
        if rate is not None and rate < self.target_hz * self.slack and self.index + 1 < len(self.rungs):
            return self._switch(self.index + 1, now)
        long_rate = self._rate(now, 3 * self.window)
        self.last_rate = long_rate if long_rate is not None else rate
        if long_rate is not None and self.index > 0:
            if self._predict(self.rungs[self.index - 1], long_rate) >= self.target_hz * self.headroom:
                return self._switch(self.index - 1, now)
        return None

    def _predict(self, setting: Setting, rate_now: float) -> float:
        guess = predict_hz(setting, {self.current: rate_now})
        if guess is None and self.current in self.measured:
            start_up = predict_hz(setting, self.measured)
            guess = None if start_up is None else start_up * rate_now / self.measured[self.current]
        return guess or 0.0

    def _rate(self, now: float, span: float) -> float | None:
        """Masks per second over the last ``span`` seconds; None until that much has been watched."""
        if now - self.started < span:
            return None
        return sum(1 for t in self.times if t > now - span) / span

    def _switch(self, index: int, now: float) -> Setting:
        self.index = index
        self.restart(now)
        return self.current

    def restart(self, now: float) -> None:
        """Watch afresh from ``now`` (after a switch: one change settles before the next)."""
        self.times.clear()
        self.started = now


class AdaptiveSegmenter(Segmenter):
    """The live run's segmenter under ``--size auto``: the model of the governor's current rung. ``refreshed(now)``
    (the segmentation worker calls it after each mask, between two model calls) feeds the governor and, when it
    says so, loads the new rung's model there and closes the old one: the picture goes on with the newest mask
    meanwhile. Everything else is the current model's: size, precision, ``infer``, ``describe``."""

    def __init__(self, segmenter: Segmenter, governor: RefreshGovernor, create: Callable[[Setting], Segmenter], *,
                 log, clock: Callable[[], float] = time.perf_counter):
        self.current, self.governor, self.create, self.log, self.clock = segmenter, governor, create, log, clock
        self.name, self.device, self.switches = segmenter.name, segmenter.device, []

    model = property(lambda self: self.current.model)
    size = property(lambda self: self.current.size)
    precision = property(lambda self: self.current.precision)
    weights = property(lambda self: self.current.weights)
    input = property(lambda self: self.current.input)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.current.infer(batch)

    def infer_tensor(self, batch):
        return self.current.infer_tensor(batch)

    def predict(self, images):
        return self.current.predict(images)

    def predict_frames(self, images, stats=None):
        return self.current.predict_frames(images, stats)

    def describe(self) -> str:
        return self.current.describe()

    def refreshed(self, now: float) -> Setting | None:
        """A new mask came at ``now``; returns the rung switched to, if any."""
        was = self.governor.current
        setting = self.governor.refreshed(now)
        if setting is None:
            return None
        rate = self.governor.last_rate
        self.log(f"u2live: masks at {rate:.1f} Hz ({TARGET_HZ:g} Hz wanted) on {was}: switching to {setting}")
        new = self.create(setting)
        old, self.current = self.current, new
        old.close()
        self.governor.restart(self.clock())  # the loading time is not the new rung's
        self.switches.append(setting)
        return setting

    def _close(self) -> None:
        self.current.close()
