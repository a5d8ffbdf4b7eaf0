"""Adaptive quality for live work: the largest inference size and precision that refresh masks at ``TARGET_HZ``.

Nothing is measured before the first frame. A live run under ``--size auto`` starts at once (:func:`start`): at
the size remembered for this machine and model (:mod:`u2live.size_memory`), or, the first time, at the smallest
live size, which any machine runs. While it runs, :class:`RefreshGovernor` watches how fast the model makes masks
there and moves to the best rung predicted to keep the target (a model's cost grows with the pixel count,
size^2): up, after a window with room to spare (the first time after one short window: the rung it starts on was
not measured), down when the rate stays below the target; each rung it settles on is remembered for the next run.
:class:`AdaptiveSegmenter` applies it: the segmenter the live run holds, whose model the segmentation worker
changes between two masks when the governor says so; the picture goes on with the newest mask meanwhile.

The rate is measured where it matters: the live model runs beside the picture, on every core but below the
picture's priority (:func:`u2live.live.below_the_picture`), so its rate is what the picture leaves it. It counts
the time the model spends per mask, not the masks shown: a model faster than the camera waits for frames, and a
camera slower than the target is no reason to step down.

Under ``--model auto`` the ladder is U2-Net†'s, the network ``--size`` sizes (:mod:`u2live.person`): a move
changes U2-Net† alone (the segmenter's own ``resize``), and only masks it made are counted (``ran_at_size``), each
with all the time it took (the person model's and the face detector's included: that is the rate masks come at).
A mask of the person model alone says nothing about U2-Net†'s size: it is not counted, and when U2-Net† runs
again the governor watches it afresh.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Segmenter

TARGET_HZ = 8.0
#: margin on the rate a setting is predicted to reach, for what the prediction does not see
HEADROOM = 1.25
#: down to 160: at 128 the masks part from the model's own at 320 by MAE 0.21 on Megamind's frames (a blob over half
#: the picture on some), at 160 by 0.10 (benchmarks/results/live-profile.json): faster masks would not be worth it
SIZES = (320, 288, 256, 224, 192, 160)
PRECISION_RANK = {"fp32": 0, "fp16": 1, "int8": 2}  # better first


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


def start(segmenter: Segmenter, rungs: Sequence[Setting], create: Callable[[Setting], Segmenter], *, memory,
          log, target_hz: float = TARGET_HZ) -> AdaptiveSegmenter:
    """The live run's :class:`AdaptiveSegmenter`, on ``segmenter`` (already loaded at ``memory``'s start size,
    :class:`u2live.size_memory.SizeMemory`); ``create(setting)`` loads another rung. One stderr line says where
    it starts and why."""
    current = Setting(segmenter.size, segmenter.precision)
    recalled = memory.recalled
    if recalled and recalled.get("size") == current.size:
        rate = f", {recalled['hz']:g} masks/s" if recalled.get("hz") else ""
        log(f"u2live: --size auto: {current}, where it settled on this machine ({recalled['when']}{rate}); "
            "adjusted while running")
    else:
        log(f"u2live: --size auto: {current} to start; the largest size keeping masks at >= {target_hz:g} Hz here "
            "is found while running, and remembered")
    governor = RefreshGovernor(rungs, current, target_hz=target_hz, explore=not recalled)
    return AdaptiveSegmenter(segmenter, governor, create, log=log, remember=memory.remember)


class RefreshGovernor:
    """Watches the model's mask rate during a live run and says when to change rung.

    ``refreshed(now, busy)`` is called after each mask (``now`` in seconds, ``busy`` the seconds the model spent on
    it); it returns the rung to switch to, or None. The rate is masks per second of model time (masks per second
    of wall time when ``busy`` is not given). Down when the rate over the last ``window`` seconds stays below
    ``target_hz * slack``: to the best rung predicted to reach the target, at least one down. Up when, over
    ``3 * window`` (one ``window`` while ``explore``: the start rung was never measured), a better rung is
    predicted to keep ``target_hz * headroom``: to the best such rung. After a switch the history restarts, so
    one change settles before the next.
    """

    def __init__(self, rungs: Sequence[Setting], current: Setting, *, target_hz: float = TARGET_HZ,
                 window: float = 3.0, slack: float = 0.9, headroom: float = HEADROOM, explore: bool = False):
        self.rungs, self.index = list(rungs), list(rungs).index(current)
        self.target_hz, self.window, self.slack, self.headroom = target_hz, window, slack, headroom
        self.explore = explore
        self.times: deque[tuple[float, float | None]] = deque()  # (when, model seconds) per mask
        self.started: float | None = None
        self.last_rate: float | None = None  # masks per second on the current rung, once a window was watched
        self.switched_at: float | None = None  # the rate on the previous rung that made the last switch

    @property
    def current(self) -> Setting:
        return self.rungs[self.index]

    def refreshed(self, now: float, busy: float | None = None) -> Setting | None:
        self.started = now if self.started is None else self.started
        self.times.append((now, busy))
        while self.times and self.times[0][0] < now - 3 * self.window:
            self.times.popleft()
        rate = self._rate(now, self.window)
        self.last_rate = rate if rate is not None else self.last_rate
        if rate is not None and rate < self.target_hz * self.slack and self.index + 1 < len(self.rungs):
            return self._switch(max(self.index + 1, self._best(rate, self.target_hz)), now, rate)
        long_rate = rate if self.explore else self._rate(now, 3 * self.window)
        if long_rate is None:
            return None
        self.last_rate, self.explore = long_rate, False
        best = self._best(long_rate, self.target_hz * self.headroom)
        return self._switch(best, now, long_rate) if best < self.index else None

    def _best(self, rate_now: float, needed: float) -> int:
        """The index of the best rung predicted at >= ``needed`` from the current rung's rate (else the last)."""
        for index, rung in enumerate(self.rungs):
            guess = rate_now if index == self.index else predict_hz(rung, {self.current: rate_now})
            if guess is not None and guess >= needed:
                return index
        return len(self.rungs) - 1

    def _rate(self, now: float, span: float) -> float | None:
        """Masks per second of model time over the last ``span`` seconds; None until that much has been watched."""
        if now - self.started < span:
            return None
        recent = [busy for t, busy in self.times if t > now - span]
        if recent and None not in recent and sum(recent) > 0:
            return len(recent) / sum(recent)
        return len(recent) / span

    def _switch(self, index: int, now: float, rate: float) -> Setting:
        self.index, self.switched_at = index, rate
        self.restart(now)
        return self.current

    def restart(self, now: float) -> None:
        """Watch afresh from ``now`` (after a switch: one change settles before the next)."""
        self.times.clear()
        self.started, self.last_rate = now, None


class AdaptiveSegmenter(Segmenter):
    """The live run's segmenter under ``--size auto``: the model of the governor's current rung. ``refreshed(now,
    busy)`` (the segmentation worker calls it after each mask, between two model calls) feeds the governor and,
    when it says so, loads the new rung's model there and closes the old one: the picture goes on with the newest
    mask meanwhile. Each rung switched to, and the one held at the end, go to ``remember(setting, hz)``.
    Everything else is the current model's: size, precision, ``infer``, ``describe``."""

    def __init__(self, segmenter: Segmenter, governor: RefreshGovernor, create: Callable[[Setting], Segmenter], *,
                 log, clock: Callable[[], float] = time.perf_counter,
                 remember: Callable[[Setting, float | None], None] | None = None):
        self.current, self.governor, self.create, self.log, self.clock = segmenter, governor, create, log, clock
        self.remember = remember or (lambda setting, hz: None)
        self.name, self.device, self.switches = segmenter.name, segmenter.device, []
        self.started_at = governor.current
        self._sized_idle = False  # the last mask did not come from the network the ladder sizes

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

    def refreshed(self, now: float, busy: float | None = None) -> Setting | None:
        """A new mask came at ``now`` after ``busy`` seconds of model time; returns the rung switched to, if any."""
        if not getattr(self.current, "ran_at_size", True):  # auto's person model alone: U2-Net†'s size not used
            self._sized_idle = True
            return None
        if self._sized_idle:  # the sized network runs again: watch it afresh from this mask
            self._sized_idle = False
            self.governor.restart(now - (busy or 0.0))
        was = self.governor.current
        setting = self.governor.refreshed(now, busy)
        if setting is None:
            return None
        rate = self.governor.switched_at
        self.log(f"u2live: --size auto: the model makes {rate:.1f} masks/s at {was} here ({self.governor.target_hz:g}"
                 f" wanted): {setting} from now")
        self._load(setting)
        self.governor.restart(self.clock())  # the loading time is not the new rung's
        self.switches.append(setting)
        self.remember(setting, predict_hz(setting, {was: rate}))
        return setting

    def _load(self, setting: Setting) -> None:
        """The model at ``setting`` from now on: changed in place by a segmenter that has ``resize`` (auto: U2-Net†
        alone, the person model and its decision kept), else ``create``d and the old one closed."""
        resize = getattr(self.current, "resize", None)
        if resize is not None:
            resize(setting.size, setting.precision)
            return
        new = self.create(setting)
        old, self.current = self.current, new
        old.close()

    def _close(self) -> None:
        if self.governor.last_rate is not None:  # watched for a window at least: what it runs at now
            self.remember(self.governor.current, self.governor.last_rate)
        self.current.close()
