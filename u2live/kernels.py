"""The per-frame work after the model, in two implementations chosen once per run (:func:`kernels_for`):

- :class:`CpuKernels`: numpy arrays and OpenCV's SIMD kernels, for frames on the CPU (no torch: a CPU run never
  imports it);
- :class:`u2live.kernels_torch.TorchKernels`: torch tensors on a GPU, for frames that stay on the device from the
  upload to the finished picture.

Both take the same calls with the same shapes: frames [H, W, 3] uint8, model masks [S, S] float32 in [0, 1], alphas
[H, W] at the frame's size (uint8 round(255 a) on the CPU, whose integer compositing takes them as they are; float32
in [0, 1] on a GPU). :class:`u2live.pipeline.Stages` and the two loops (:mod:`u2live.pipeline`, :mod:`u2live.live`)
call nothing else that depends on where the frames are.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

import numpy as np

from .backgrounds import blur_background
from .compositor import composite, matte, rgba
from .refine import refine_mask

if TYPE_CHECKING:
    from .kernels_torch import TorchKernels


class Ready:
    """A finished batch already in host memory: :meth:`wait` returns it (a GPU's :class:`Download` waits for its
    copy)."""

    def __init__(self, pictures: np.ndarray):
        self.pictures = pictures

    def wait(self) -> np.ndarray:
        return self.pictures


class CpuKernels:
    """The stages on numpy frames with OpenCV (see the module docstring)."""

    name = "cpu"
    device = "cpu"
    on_gpu = False

    def inference(self):
        """What the loops run inside (torch's inference mode on a GPU; nothing here)."""
        return contextlib.nullcontext()

    def upload(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """A list of [H, W, 3] uint8 frames -> [N, H, W, 3]; one frame is not copied (a view of the decoder's)."""
        if len(images) == 1:
            return np.ascontiguousarray(images[0])[None]
        return np.stack(images)

    def download(self, pictures: np.ndarray) -> Ready:
        return Ready(pictures)

    def to_host(self, picture: np.ndarray) -> np.ndarray:
        return picture

    def stack(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(arrays)

    def plane(self, picture: np.ndarray) -> np.ndarray:
        """A host picture (a background) where the frames are, contiguous for OpenCV's kernels."""
        return np.ascontiguousarray(picture)

    def refine(self, mask: np.ndarray, image: np.ndarray) -> np.ndarray:
        """The model's [S, S] mask -> the frame's [H, W] uint8 alpha (:func:`u2live.refine.refine_mask`)."""
        return refine_mask(mask, image, dtype=np.uint8)

    def refine_batch(self, masks: np.ndarray, images: np.ndarray) -> np.ndarray:
        return np.stack([self.refine(mask, image) for mask, image in zip(masks, images)])

    composite = staticmethod(composite)
    matte = staticmethod(matte)
    rgba = staticmethod(rgba)
    blur_background = staticmethod(blur_background)

    def smoother(self, smoother):
        """The temporal smoother for these frames: here, as it is."""
        return smoother


CPU = CpuKernels()
#: either implementation, for annotations
Kernels = Union[CpuKernels, "TorchKernels"]


def kernels_for(device) -> Kernels:
    """The kernels for frames on ``device`` (None, ``"cpu"``, a CUDA device or its name): chosen once per run."""
    if device is None or str(device) == "cpu":
        return CPU
    from .kernels_torch import TorchKernels

    return TorchKernels(device)
