"""Frames and masks are numpy arrays on the CPU path and torch tensors on a GPU (:mod:`u2live.kernels`). The few
places that take either (the optical flow, the temporal state, the person gate) go through these helpers, which
import torch only when handed a tensor: a run on the CPU never loads it."""
from __future__ import annotations

import numpy as np


def is_numpy(data) -> bool:
    return isinstance(data, np.ndarray)


def namespace(data):
    """The array library of ``data``: numpy for an array, torch for a tensor (its functions take the same names:
    ``abs``, ``exp``, ``clip``, ``where``)."""
    if is_numpy(data):
        return np
    import torch

    return torch


def to_host(data, dtype=np.float32) -> np.ndarray:
    """numpy or torch (any device) -> a contiguous numpy array of ``dtype`` (no copy when it already is one)."""
    if not is_numpy(data):
        data = data.detach().cpu().numpy()
    return np.ascontiguousarray(data, dtype=dtype)


def like(array: np.ndarray, reference):
    """``array`` as ``reference``'s type: itself beside a numpy array, a tensor on ``reference``'s device beside a
    tensor (no copy on the CPU)."""
    if is_numpy(reference):
        return array
    import torch

    return torch.from_numpy(array).to(reference.device)
