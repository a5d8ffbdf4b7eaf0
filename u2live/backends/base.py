"""The interface every inference backend implements."""
from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..catalog import input_spec
from ..closing import Closing
from ..console import stderr_line
from ..errors import InputError
from ..preprocess import to_model_input, to_model_input_tensor

if TYPE_CHECKING:
    import torch


MAX_SIZE = 1024  # trained at 320 (256); memory grows with the square of the size (4096 asked for tens of GB)


def check_size(size: int, model: str = "u2netp") -> int:
    spec = input_spec(model)
    if not isinstance(size, int) or size <= 0 or size % spec.multiple:
        raise InputError(f"--size of {model} must be a positive multiple of {spec.multiple} (its total stride), "
                         f"got {size}")
    if size > MAX_SIZE:
        raise InputError(f"--size is at most {MAX_SIZE}: the network was trained at {spec.size} and gains nothing "
                         f"far above it, while its memory grows with the square of the size; got {size}")
    return size


class Segmenter(Closing, ABC):
    """Runs one segmentation network (U2-Net, or the person model) on batches of frames.

    Contract: ``infer`` takes the preprocessed batch [N, 3, size, size] float32 (the model's own preprocessing,
    :func:`u2live.catalog.input_spec`) and returns its mask (U2-Net's fused ``d0``) as [N, size, size] float32 in
    [0, 1] (sigmoid, not min-max normalised). ``close`` releases what the backend holds and may be called more
    than once. ``describe`` is one line for logs and benchmarks.
    """

    #: registry name, set by :func:`u2live.backends.register`
    name: str = ""

    def __init__(self, *, model: str = "u2netp", size: int | None = None, weights: str | Path | None = None,
                 precision: str | None = None, threads: int | None = None, log=None):
        #: where one-line progress messages go (exporting, calibrating, building an engine): stderr by default
        self.log = log or stderr_line
        #: compute threads for a backend that runs on the CPU (None: one per core); GPU backends ignore it
        self.threads_wanted = threads
        self.model = model
        self.input = input_spec(model)
        self.size = check_size(self.input.size if size is None else size, model)
        self.weights = weights
        self.precision = precision or self.default_precision()

    #: where ``infer_tensor`` wants its input: None is the CPU (the GPU backends set their CUDA device). Not a
    #: ``torch.device`` here, so that the ``cpu`` backend (ONNX Runtime) runs without importing torch.
    device = None

    def default_precision(self) -> str:
        """The precision used when none is asked for (``--precision auto``); GPU backends decide per device."""
        return "fp32"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when this backend can run on this machine, else one line saying why not."""
        return None

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        ...

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """[N, size, size] masks for N HxWx3 uint8 RGB images (the model's own preprocessing, its edge at 0.5)."""
        return edge_at_half(self.infer(to_model_input(images, self.size, self.input.scheme)), self.input.edge)

    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] float32 on ``device`` -> [N, S, S] float32 on ``device``."""
        import torch

        return torch.from_numpy(self.infer(batch.detach().cpu().numpy())).to(batch.device)

    def predict_frames(self, images, stats=None):
        """[N, H, W, 3] uint8 frames -> [N, S, S] float32 masks of the same kind: numpy for numpy (the CPU's stage
        kernels, :mod:`u2live.kernels`), a tensor on ``device`` for a tensor there (the model's preprocessing); with
        ``stats`` (a :class:`u2live.stats.PipelineStats`), preprocessing and inference are timed apart."""
        on_host = isinstance(images, np.ndarray)
        with timed_stage(stats, "preprocess"):
            batch = (to_model_input(list(images), self.size, self.input.scheme) if on_host  # [N, 3, S, S] float32
                     else to_model_input_tensor(images, self.size, self.input.scheme))
        with timed_stage(stats, "inference"):
            return edge_at_half(self.infer(batch) if on_host else self.infer_tensor(batch), self.input.edge)

    def describe(self) -> str:
        return f"{self.name} {self.model} {self.precision} {self.size}x{self.size}"


def edge_at_half(masks, edge: float):
    """Masks (numpy or torch, in [0, 1]) with the level ``edge`` moved to 0.5 by a power curve (0 and 1 stay, the
    order of every pair of pixels is kept); unchanged where ``edge`` is 0.5."""
    if edge == 0.5:
        return masks
    return masks.clip(0.0, 1.0) ** (math.log(0.5) / math.log(edge))


def timed_stage(stats, name: str):
    return stats.stage(name) if stats is not None else contextlib.nullcontext()


class TorchSegmenter(Segmenter, ABC):
    """A backend whose work is torch on ``device``: it implements ``infer_tensor``; ``infer`` goes through it."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device or "cpu", non_blocking=True)
        return self.infer_tensor(tensor).cpu().numpy()

    @abstractmethod
    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        ...

