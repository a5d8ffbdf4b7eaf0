"""Clocks and memory probes for benchmarks: honest on both CPU and CUDA.

On the CPU a call is over when it returns, so ``time.perf_counter`` around it is the latency. On a CUDA device a
call returns once its kernels are queued: we record CUDA events around it and wait on the end event, which
times the GPU work itself (torch.cuda.Event, ``elapsed_time`` in milliseconds).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def time_calls(call: Callable[[], object], *, runs: int, warmup: int, device: torch.device) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``call``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    synchronize(device)
    if device.type == "cuda":
        return [_cuda_call_ms(call) for _ in range(runs)]
    latencies = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - began) * 1000.0)
    return latencies


def _cuda_call_ms(call: Callable[[], object]) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    end.synchronize()  # wait for this call's kernels only, then read the GPU-side interval
    return start.elapsed_time(end)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarise(latencies_ms: list[float], batch: int) -> dict:
    """FPS (frames over total time) and per-call latency percentiles of one configuration."""
    samples = np.asarray(latencies_ms, dtype=np.float64)
    total_s = samples.sum() / 1000.0
    return {
        "fps": round(batch * samples.size / total_s, 3) if total_s > 0 else 0.0,
        "latency_ms_p50": round(float(np.percentile(samples, 50)), 3),
        "latency_ms_p99": round(float(np.percentile(samples, 99)), 3),
        "latency_ms_mean": round(float(samples.mean()), 3),
        "runs": int(samples.size),
        "latencies_ms": [round(float(x), 3) for x in samples],
    }


class PeakMemory:
    """Peak host RSS (and peak CUDA memory on a GPU) while the ``with`` block runs.

    Linux keeps one process-wide high-water mark (``VmHWM``) that only grows; writing ``5`` to
    ``/proc/self/clear_refs`` resets it (Linux >= 4.0), so each configuration gets its own peak. Where that is not
    allowed the peak is process-wide so far, and ``rss_scope`` says so.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_rss_mb: float | None = None
        self.peak_device_mb: float | None = None
        self.rss_scope = "configuration"

    def __enter__(self):
        if not reset_peak_rss():
            self.rss_scope = "process"
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc):
        self.peak_rss_mb = peak_rss_mb()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            # torch's caching allocator only: memory that TensorRT or ONNX Runtime allocate themselves is not in it
            self.peak_device_mb = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)

    def as_dict(self) -> dict:
        return {"peak_rss_mb": self.peak_rss_mb, "peak_device_mb": self.peak_device_mb, "rss_scope": self.rss_scope}


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS; False where the kernel does not let us."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    """VmHWM of this process in MiB (Linux), else ``ru_maxrss`` (process-wide since start)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if os.uname().sysname == "Darwin" else peak / 1024.0, 1)  # bytes on macOS, kB elsewhere
