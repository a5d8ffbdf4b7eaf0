"""What a pipeline run measured: wall time per stage, throughput, and capture-to-sink latency.

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
STAGES = ("decode", "preprocess", "inference", "smoothing", "composite", "encode")
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
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
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

    def frame_written(self, captured_at: float) -> None:
        """One frame reached every sink; ``captured_at`` is its ``Frame.captured_at``."""
        now = time.perf_counter()
        with self._lock:
            self.frames += 1
            if captured_at > 0:
                self._latencies.append(now - captured_at)

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
        with self._lock:
            samples = np.fromiter(self._latencies, dtype=np.float64)
        return float(np.percentile(samples, percentile) * 1000.0) if samples.size else None

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


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
