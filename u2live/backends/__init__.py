"""Backend registry: a dict from ``--backend`` name to :class:`Segmenter` class.

``auto`` tries the registered backends in ``AUTO_ORDER`` (fastest first), reports on stderr which it picked and
why each better one was not usable.

The built-in classes are imported on first use of their entry, so that the ``cpu`` backend (ONNX Runtime) and the
CLI's option parsing never import torch (seconds of start-up on a small machine); on a machine without an NVIDIA
driver ``auto`` skips the GPU backends without importing them.
"""
from __future__ import annotations

import importlib
import os
import shutil
import sys

from ..catalog import AUTO
from ..console import stderr_line, verbose
from ..errors import BackendError
from .base import Segmenter, check_size


class _Registry(dict):
    """name -> Segmenter class; an entry registered as ``(module, class name)`` is imported when first read."""

    def __getitem__(self, name: str) -> type[Segmenter]:
        value = super().__getitem__(name)
        if isinstance(value, tuple):
            module, attr = value
            value = getattr(importlib.import_module(module, __name__), attr)
            value.name = name
            super().__setitem__(name, value)
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


BACKENDS: dict[str, type[Segmenter]] = _Registry()
AUTO_ORDER: list[str] = []
GPU_BACKENDS = ("tensorrt", "cuda")


def register(name: str, cls, *, auto_rank: int | None = None) -> None:
    """Add ``cls`` (a class, or ``(module, class name)`` to import on first use) under ``name``; ``auto_rank``
    places it in ``auto``'s order (lower is tried first)."""
    if not isinstance(cls, tuple):
        cls.name = name
    dict.__setitem__(BACKENDS, name, cls)
    if auto_rank is not None:
        _RANKS[name] = auto_rank
        AUTO_ORDER[:] = sorted(_RANKS, key=_RANKS.get)


_RANKS: dict[str, int] = {}
# auto's order, fastest first: TensorRT FP16 > torch CUDA (graphs) > ONNX Runtime on the CPU > eager torch.
register("tensorrt", (".tensorrt", "TensorRTSegmenter"), auto_rank=0)
register("cuda", (".torch_cuda", "TorchCUDASegmenter"), auto_rank=1)
register("cpu", (".onnx_runtime", "OnnxRuntimeSegmenter"), auto_rank=2)
register("torch", (".torch_eager", "TorchCPUSegmenter"), auto_rank=99)


def no_nvidia_driver() -> str | None:
    """One line when this Linux machine plainly has no NVIDIA driver (no device node, no /proc entry, no WSL GPU),
    so no CUDA backend can run; None when one may (the backend then checks properly)."""
    if not sys.platform.startswith("linux"):
        return None
    if any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/dxg")):
        return None
    if shutil.which("nvidia-smi"):
        return None
    return "no CUDA GPU: no NVIDIA driver on this machine (no /dev/nvidiactl)"


def backend_choices() -> list[str]:
    return ["auto", *BACKENDS]


def create(backend: str = "auto", *, log=None, auto_precision: dict[str, str] | None = None,
           **options) -> Segmenter:
    """A ready :class:`Segmenter`. ``options``: model, size, weights, precision. ``auto_precision`` maps a backend
    name to the precision it takes when none is given (video work runs the ``cpu`` backend at int8)."""
    log = log or stderr_line
    if options.get("model") == AUTO:  # two networks on one backend (u2live.person)
        from ..person import create_auto

        def make(**chosen):
            return create(chosen.pop("backend", backend), log=log, auto_precision=auto_precision, **chosen)

        return create_auto(make, log=log, **options)
    if options.get("precision") is None and auto_precision:
        options.pop("precision", None)
        return _create_auto(log, auto_precision, **options) if backend == "auto" else create(
            backend, log=log, precision=auto_precision.get(backend), **options)
    if backend == "auto":
        return _create_auto(log, {}, **options)
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}: expected one of {', '.join(backend_choices())}")
    cls = BACKENDS[backend]
    reason = cls.unavailable_reason()
    if reason:
        raise BackendError(f"backend {backend} is not usable here: {reason}")
    return cls(log=log, **options)


def _create_auto(log, auto_precision: dict[str, str], **options) -> Segmenter:
    skipped = []
    for name in AUTO_ORDER:
        reason = no_nvidia_driver() if name in GPU_BACKENDS else None
        if reason is None:
            reason = BACKENDS[name].unavailable_reason()
        if reason is None:
            cls = BACKENDS[name]
            try:
                segmenter = cls(log=log, **{"precision": auto_precision.get(name), **options})
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
    return verbose() or no_nvidia_driver() is None


__all__ = ["BACKENDS", "Segmenter", "backend_choices", "check_size", "create", "register"]
