"""What a pipeline run measured: wall time per stage, throughput, capture-to-sink latency, and on a live source
how the output keeps up with the camera: delivered FPS against the camera's, the share of camera frames delivered,
mask age (from the frame a mask was computed on to the frame it is shown on) and mask refresh rate.

The main thread and the writer thread both record here, so every update takes the lock; updates are a few per
frame, far below any contention that would show. Latency samples live in a bounded window so a run of hours keeps
constant memory (the soak test of issue 6 watches RSS).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager

import numpy as np

#: stage names in pipeline order; ``encode`` is the writer thread's time in the sinks' ``write``
STAGES = ("decode", "preprocess", "inference", "smoothing", "warp", "refine", "composite", "encode")
LATENCY_WINDOW = 8192


class PipelineStats:
    """Per-stage wall time, frames processed, wall-clock FPS and capture-to-sink latency of one run.

    ``synchronize``: a callable (e.g. ``torch.cuda.synchronize``) run at each stage boundary so that stage times on
    an asynchronous device are honest; leave it None for plain runs, where it would only cost overlap.
    """

    def __init__(self, *, synchronize=None):
        self.synchronize = synchronize
        self.stage_seconds = dict.fromkeys(STAGES, 0.0)
        self.frames = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.backend = ""
        self.camera_fps: float | None = None  # the live source's own rate, set by the runner
        self.masks = 0
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._mask_ages: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._written = _Span()  # (frame index, time) of the first and last frame out
        self._made = _Span()  # (mask count, time) of the first and last mask made
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = time.perf_counter()

    def finish(self) -> None:
        self.finished = time.perf_counter()

    @contextmanager
    def stage(self, name: str):
        """Adds the block's wall time to stage ``name``."""
        began = time.perf_counter()
        try:
            yield
        finally:
            if self.synchronize is not None:
                self.synchronize()
            self.add(name, time.perf_counter() - began)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + seconds

    def frame_written(self, captured_at: float, index: int | None = None) -> None:
        """One frame reached every sink; ``captured_at`` is its ``Frame.captured_at``, ``index`` its
        ``Frame.index`` (a camera's indices count the frames it dropped too). The delivered rate is counted in
        capture time: over a short run the first frame out is late (warm-up) and the output's own clock would show
        more frames a second than the camera made ("delivered 25.4 of 24.0 FPS")."""
        now = time.perf_counter()
        with self._lock:
            self.frames += 1
            if captured_at > 0:
                self._latencies.append(now - captured_at)
            if index is not None:
                self._written.add(index, captured_at if captured_at > 0 else now)

    def masks_made(self, count: int = 1) -> None:
        """The model finished ``count`` masks."""
        now = time.perf_counter()
        with self._lock:
            self.masks += count
            self._made.add(self.masks, now)

    def mask_shown(self, age: float) -> None:
        """A frame was rendered with a mask computed on a frame ``age`` seconds (of stream time) before it."""
        with self._lock:
            self._mask_ages.append(age)

    @property
    def wall_seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        wall = self.wall_seconds
        return self.frames / wall if wall > 0 else 0.0

    def latency_ms(self, percentile: float) -> float | None:
        return self._percentile_ms(self._latencies, percentile)

    def mask_age_ms(self, percentile: float) -> float | None:
        return self._percentile_ms(self._mask_ages, percentile)

    def _percentile_ms(self, window: deque, percentile: float) -> float | None:
        with self._lock:
            samples = np.fromiter(window, dtype=np.float64)
        return float(np.percentile(samples, percentile) * 1000.0) if samples.size else None

    def live(self) -> dict:
        """How a live run kept up, measured between its first and last frame out (start-up excluded):
        ``delivered_fps`` (frames out per second of the camera's capture time), ``camera_fps`` (the rate the camera
        announced), ``delivered_share`` (frames out over the camera frames in that span), mask age p50/p99 in ms
        and ``mask_hz``. Values not measured are None."""
        with self._lock:
            written, delivered, mask_hz = self._written, self.frames, self._made.rate()
            camera_frames = written.last_key - written.first_key + 1 if written.count else 0
            delivered_fps = written.rate()
        return {
            "camera_fps": _rounded(self.camera_fps),
            "delivered_fps": _rounded(delivered_fps),
            "delivered_share": _rounded(delivered / camera_frames if camera_frames else None),
            "mask_hz": _rounded(mask_hz),
            "mask_age_ms_p50": _rounded(self.mask_age_ms(50)),
            "mask_age_ms_p99": _rounded(self.mask_age_ms(99)),
        }

    def as_dict(self) -> dict:
        """For ``u2live bench`` and JSON: totals, mean milliseconds per frame for each stage, latency percentiles."""
        frames = max(self.frames, 1)
        with self._lock:
            stages = {name: seconds * 1000.0 / frames for name, seconds in self.stage_seconds.items()}
        return {
            "backend": self.backend,
            "frames": self.frames,
            "wall_s": round(self.wall_seconds, 4),
            "fps": round(self.fps, 3),
            "stage_ms": {name: round(ms, 3) for name, ms in stages.items()},
            "latency_ms_p50": _rounded(self.latency_ms(50)),
            "latency_ms_p99": _rounded(self.latency_ms(99)),
            **self.live(),
        }

    def summary(self) -> str:
        """One line: frames, time, FPS, backend."""
        backend = f", {self.backend}" if self.backend else ""
        return f"{self.frames} frames in {self.wall_seconds:.1f} s: {self.fps:.2f} FPS{backend}"

    def breakdown(self) -> str:
        """One line: mean milliseconds per frame for each stage, and the latency percentiles when measured."""
        data = self.as_dict()
        parts = [f"{name} {ms:.1f}" for name, ms in data["stage_ms"].items()]
        line = "ms/frame: " + ", ".join(parts)
        if data["latency_ms_p50"] is not None:
            line += f"; capture-to-sink latency p50 {data['latency_ms_p50']:.0f} ms, p99 {data['latency_ms_p99']:.0f} ms"
        return line

    def live_summary(self) -> str | None:
        """One line on keeping up with a camera, or None when the run was not live. The share counts from the
        first frame shown: frames dropped while starting are the run summary's to say."""
        data = self.live()
        if data["camera_fps"] is None or data["delivered_share"] is None:
            return None
        if data["delivered_fps"] is None:  # one frame out: no rate, and no share worth a percentage
            return (f"delivered {self.frames} frame: too few for a rate against the camera's "
                    f"{data['camera_fps']:.1f} FPS")
        line = (f"delivered {data['delivered_fps']:.1f} of the camera's {data['camera_fps']:.1f} FPS after the "
                f"first frame shown ({100 * data['delivered_share']:.1f}% of the frames it sent since)")
        if data["mask_hz"] is not None:
            line += f"; masks refreshed at {data['mask_hz']:.1f} Hz"
        if data["mask_age_ms_p50"] is not None:
            line += f", mask age p50 {data['mask_age_ms_p50']:.0f} ms, p99 {data['mask_age_ms_p99']:.0f} ms"
        return line


class _Span:
    """The first and last of a series of (key, time) events, for rates measured between them."""

    def __init__(self):
        self.count = 0
        self.first_key = self.last_key = 0
        self.first_time = self.last_time = 0.0

    def add(self, key: int, now: float) -> None:
        if self.count == 0:
            self.first_key, self.first_time = key, now
        self.count += 1
        self.last_key, self.last_time = key, now

    def rate(self) -> float | None:
        """Events per second between the first and the last (None with fewer than two)."""
        seconds = self.last_time - self.first_time
        return (self.count - 1) / seconds if self.count > 1 and seconds > 0 else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
