"""Whether one model call of ``batch`` frames at ``size`` fits in the memory of the device it runs on.

Activation memory grows with batch x size²: ONNX Runtime on the CPU took 2.3 KB per input pixel per frame for
U2-Net† in FP32 (320 batch 5: +907 MiB over batch 1; 640 batch 3: +2045 MiB over batch 1, measured here). So
``--size 1024 --batch 64`` asks for tens of GiB, and the allocator's failure surfaced as "internal error". The check
refuses, in one line before any frame is read, what cannot fit in the memory available now; the larger models
need more, so it never refuses what would have fitted.
"""
from __future__ import annotations

import os

from .errors import InputError

BYTES_PER_INPUT_PIXEL = 2300  # per frame, U2-Net† FP32 on the CPU (above); a lower bound for the other models
GiB = 1024 ** 3


def available_bytes(device) -> int | None:
    """Memory free for the model now: the GPU's free memory for a CUDA device, else the host's MemAvailable; None
    when it cannot be asked."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as info:
            return next(int(line.split()[1]) * 1024 for line in info if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None


def check_batch_memory(size: int, batch: int, device) -> None:
    """InputError (one line) when ``batch`` frames at ``size`` certainly cannot fit in ``device``'s memory."""
    needed = batch * size * size * BYTES_PER_INPUT_PIXEL
    free = available_bytes(device)
    if free is not None and needed > free:
        where = "the GPU" if getattr(device, "type", str(device)) == "cuda" else "this machine"
        raise InputError(f"--size {size} --batch {batch} needs about {needed / GiB:.1f} GiB for the model's "
                         f"activations; {where} has {free / GiB:.1f} GiB available: use a smaller --batch or --size")
