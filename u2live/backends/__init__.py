"""Backend registry: a plain dict from ``--backend`` name to :class:`Segmenter` class.

``auto`` tries the registered backends in ``AUTO_ORDER`` (fastest first), reports on stderr which it picked and
why each better one was not usable.
"""
from __future__ import annotations

import os
import shutil

from ..console import stderr_line
from ..errors import BackendError
from .base import Segmenter, check_size
from .onnx_runtime import OnnxRuntimeSegmenter
from .tensorrt import TensorRTSegmenter
from .torch_cuda import TorchCUDASegmenter
from .torch_eager import TorchCPUSegmenter

BACKENDS: dict[str, type[Segmenter]] = {}
AUTO_ORDER: list[str] = []


def register(name: str, cls: type[Segmenter], *, auto_rank: int | None = None) -> None:
    """Add ``cls`` under ``name``; ``auto_rank`` places it in ``auto``'s order (lower is tried first)."""
    cls.name = name
    BACKENDS[name] = cls
    if auto_rank is not None:
        _RANKS[name] = auto_rank
        AUTO_ORDER[:] = sorted(_RANKS, key=_RANKS.get)


_RANKS: dict[str, int] = {}
# auto's order, fastest first: TensorRT FP16 > torch CUDA (graphs) > ONNX Runtime on the CPU > eager torch.
register("tensorrt", TensorRTSegmenter, auto_rank=0)
register("cuda", TorchCUDASegmenter, auto_rank=1)
register("cpu", OnnxRuntimeSegmenter, auto_rank=2)
register("torch", TorchCPUSegmenter, auto_rank=99)


def backend_choices() -> list[str]:
    return ["auto", *BACKENDS]


def create(backend: str = "auto", *, log=None, **options) -> Segmenter:
    """A ready :class:`Segmenter`. ``options``: model, size, weights, precision."""
    log = log or stderr_line
    if backend == "auto":
        return _create_auto(log, **options)
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: expected one of {', '.join(backend_choices())}")
    cls = BACKENDS[backend]
    reason = cls.unavailable_reason()
    if reason:
        raise BackendError(f"backend {backend} is not usable here: {reason}")
    return cls(log=log, **options)


def _create_auto(log, **options) -> Segmenter:
    skipped = []
    for name in AUTO_ORDER:
        cls = BACKENDS[name]
        reason = cls.unavailable_reason()
        if reason is None:
            try:
                segmenter = cls(log=log, **options)
            except BackendError as err:
                reason = str(err)
            else:
                why = f" ({'; '.join(skipped)})" if skipped and _worth_saying() else ""
                log(f"u2live: backend auto -> {name}{why}")
                return segmenter
        skipped.append(f"{name}: {reason}")
    raise BackendError("no backend can run here: " + "; ".join(skipped))


def _worth_saying() -> bool:
    """Why faster backends were skipped matters with --verbose, or where an NVIDIA GPU is there and unused;
    on a machine without one, "install a CUDA build of torch" on every run is noise."""
    return bool(os.environ.get("U2LIVE_VERBOSE")) or os.path.exists("/dev/nvidia0") or bool(
        shutil.which("nvidia-smi"))


__all__ = ["BACKENDS", "Segmenter", "backend_choices", "check_size", "create", "register"]
