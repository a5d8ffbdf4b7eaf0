"""Each network's preprocessing and the mask post-processing, shared by every backend.

Input, ``scheme="u2net"`` (the authors'): resize to size x size, divide by the image's maximum, normalise with the
ImageNet mean and std. ``scheme="unit"`` (MediaPipe's person model): resize, divide by 255.
Output (U2-Net): ``d0`` min-max normalised per image, resized bilinearly to the image's own size.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch  # imported where used: the CPU path (ONNX Runtime) runs without torch

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


SCHEMES = ("u2net", "unit")


def to_model_input(images: Sequence[np.ndarray], size: int, scheme: str = "u2net") -> np.ndarray:
    """[N, 3, size, size] float32 from N HxWx3 uint8 RGB images."""
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        if scheme == "unit":
            batch[i] = (small * (1.0 / 255.0)).transpose(2, 0, 1)
            continue
        small /= max(float(small.max()), 1e-6)  # the authors divide by the image's own max, not 255
        batch[i] = ((small - MEAN) / STD).transpose(2, 0, 1)
    return batch


def to_model_input_tensor(images: torch.Tensor, size: int, scheme: str = "u2net") -> torch.Tensor:
    """The same preprocessing in torch, on whatever device ``images`` lives (the GPU frame path; frames on the CPU
    are numpy and take :func:`to_model_input`, whose OpenCV kernels took ~2 ms a 720x528 frame on the 2-core EPYC
    where torch's took ~35).

    ``images``: [N, H, W, 3] uint8 RGB. Returns [N, 3, size, size] float32 on the same device. Bilinear without
    antialiasing, like ``cv2.INTER_LINEAR``.
    """
    import torch.nn.functional as F

    x = images.permute(0, 3, 1, 2).float()  # [N, 3, H, W]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if scheme == "unit":
        return x / 255.0
    peak = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    mean, std = _mean_std(x.device)
    return (x / peak - mean) / std


@functools.lru_cache(maxsize=4)
def _mean_std(device):
    """ImageNet's mean and std as [1, 3, 1, 1] tensors on ``device``, made once: a copy from host memory per batch
    would wait for everything queued on a GPU first."""
    import torch

    return (torch.as_tensor(MEAN, device=device).view(1, 3, 1, 1),
            torch.as_tensor(STD, device=device).view(1, 3, 1, 1))


def normalise_minmax(masks: np.ndarray) -> np.ndarray:
    """Per-mask min-max to [0, 1] over the last two axes, as the authors' test script does."""
    low = masks.min(axis=(-2, -1), keepdims=True)
    high = masks.max(axis=(-2, -1), keepdims=True)
    return (masks - low) / np.maximum(high - low, 1e-8)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A [h, w] float mask bilinearly resized to [height, width]."""
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def to_uint8(mask: np.ndarray) -> np.ndarray:
    return np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
