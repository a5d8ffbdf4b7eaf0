"""Dense optical flow between two frames, and what follows from it: carrying a mask along the motion, where that
carried mask can be trusted, and whether the scene changed altogether. The one flow machinery of the project: the
temporal state (:mod:`u2live.temporal`) and the live path's warp of a stale mask both use it.

OpenCV's DIS flow (Kroeger et al., ECCV 2016), ultrafast preset, on grayscale frames shrunk to ``size`` pixels on
the long side (default 320: a quarter of 720p, ~0.5 ms a direction on one EPYC core).

    estimator = FlowEstimator()
    flow = estimator.flow(previous_frame, frame)     # [H, W, 3] uint8 RGB, numpy or torch
    if not flow.scene_cut:
        carried = flow.warp(previous_mask)           # any size: the model's 320x320 or a full-resolution mask
        trusted = flow.resize(flow.valid, carried.shape)

Conventions: ``flow(a, b)`` describes the motion from frame ``a`` to frame ``b``; ``warp`` moves something that
was aligned with ``a`` so that it is aligned with ``b``. Frames are reduced once by :meth:`FlowEstimator.prepare`;
passing the prepared (2-D, working size) image instead of the frame skips that step, e.g. for a frame already
used as the ``b`` of the previous call.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .arrays import like, to_host

DEFAULT_SIZE = 320
PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
# Sundaram et al. (ECCV 2010), as Lai et al. (ECCV 2018) use it: a pixel is occluded (its carried value is not
# trustworthy) when the forward flow at its source does not bring it back: |b + f(x + b)|^2 > a (|b|^2 + |f|^2) + c
FB_RELATIVE = 0.01
FB_ABSOLUTE = 0.5  # working-resolution pixels squared
# A scene cut: after following the motion, more than CUT_SHARE of the picture still differs by more than CUT_LEVEL
# gray levels, or (with the check) less than CUT_VALID of it is forward-backward consistent. Tuned on Megamind
# frames 0-119: at its cuts 35% of the picture differs and 1-9% is consistent; elsewhere at most 1% and 92%.
CUT_LEVEL = 24.0
CUT_SHARE = 0.2
CUT_VALID = 0.4


@dataclass
class Flow:
    """The motion from frame ``a`` to frame ``b`` at working resolution ``h x w`` (see :class:`FlowEstimator`).

    ``backward`` [h, w, 2] float32: for each pixel of ``b``, the (dx, dy) in working pixels to where it was in
    ``a`` (the field :meth:`warp` samples with). ``forward`` [h, w, 2] or None: the reverse field, present when
    the validity check was asked for. ``valid`` [h, w] bool: pixels of ``b`` whose carried value can be trusted
    (forward-backward consistent and coming from inside ``a``; all True without ``forward``). ``change`` [h, w]
    uint8: how much the picture changed at each pixel of ``b`` after following the motion, in gray levels
    (0-255). ``scene_cut``: the two frames show different scenes; nothing carried from ``a`` applies.
    """

    backward: np.ndarray
    forward: np.ndarray | None
    valid: np.ndarray
    change: np.ndarray
    scene_cut: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.backward.shape[:2]

    def at(self, shape: tuple[int, int]) -> Flow:
        """The same motion at another working resolution ``shape`` [h, w], for a user at that resolution (the live
        path's temporal state takes the flow the carrier computed for the same pair of frames): the field shrunk by
        area averaging with its vectors scaled, ``valid`` by nearest, ``change`` by area averaging. Always a copy
        (the temporal state edits the field in place)."""
        h, w = shape
        if (h, w) == self.shape:
            return Flow(self.backward.copy(), None, self.valid.copy(), self.change.copy(), self.scene_cut)
        size = (w, h)
        scale = np.float32([w / self.shape[1], h / self.shape[0]])
        backward = cv2.resize(self.backward, size, interpolation=cv2.INTER_AREA) * scale
        change = cv2.resize(self.change, size, interpolation=cv2.INTER_AREA)  # stays uint8, as the state needs
        return Flow(backward=backward, forward=None, valid=self.resize(self.valid, shape), change=change,
                    scene_cut=self.scene_cut)

    def warp(self, mask):
        """A mask aligned with frame ``a`` -> the same mask carried to frame ``b``: same shape, type and device.

        ``mask``: [H, W] (or [H, W, C]) float numpy array or torch tensor at any resolution; the field is scaled to
        it. Bilinear sampling; pixels that came from outside the frame take the nearest edge value (``valid``
        marks them untrusted).
        """
        array = to_host(mask, np.float32)
        if not self.backward.any():  # nothing moved (a still picture): remapping would only blur
            return like(array.copy(), mask)
        warped = cv2.remap(array, self._map(array.shape[:2]), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        return like(warped.reshape(array.shape), mask)  # remap drops a trailing channel axis of size 1

    def resize(self, field, shape: tuple[int, int]):
        """A working-resolution [h, w] map (``valid``, ``change``) at another [H, W]: nearest for booleans,
        bilinear otherwise. Returns numpy."""
        array = np.asarray(field)
        if array.shape[:2] == tuple(shape):
            return array
        if array.dtype == bool:
            resized = cv2.resize(array.view(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
            return resized.view(bool)
        return cv2.resize(array.astype(np.float32, copy=False), (shape[1], shape[0]),
                          interpolation=cv2.INTER_LINEAR)

    def _map(self, shape: tuple[int, int]) -> np.ndarray:
        """[H, W, 2] float32 sampling positions in a mask of ``shape`` for remap."""
        height, width = shape
        h, w = self.shape
        field = self.backward
        if (height, width) != (h, w):  # vectors in the mask's pixels: scaled before resizing, on fewer pixels
            field = cv2.resize(field * np.float32([width / w, height / h]), (width, height),
                               interpolation=cv2.INTER_LINEAR)
        return cv2.add(_grid(height, width), field)


class FlowEstimator:
    """Owns the DIS flow object and the working resolution; one per stream (DIS is not shared across threads).

    ``size``: the long side of the working resolution in pixels (frames are shrunk to it, never enlarged).
    ``preset``: DIS's ``ultrafast`` (default, for every frame), ``fast`` or ``medium`` (for measuring).
    """

    def __init__(self, size: int = DEFAULT_SIZE, *, preset: str = "ultrafast"):
        if size < 16:
            raise ValueError(f"flow working size must be at least 16 pixels, got {size}")
        if preset not in PRESETS:
            raise ValueError(f"flow preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        self.size = int(size)
        self.preset = preset
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the working resolution for a frame of ``height x width``."""
        scale = min(1.0, self.size / max(height, width))
        return max(8, round(height * scale)), max(8, round(width * scale))

    def prepare(self, image) -> np.ndarray:
        """[H, W, 3] uint8 RGB frame (numpy or torch, any device) -> [h, w] uint8 gray at working resolution.
        A 2-D array is taken as already prepared and returned as it is."""
        array = to_host(image, np.uint8)
        if array.ndim == 2:
            return array
        h, w = self.working_shape(*array.shape[:2])
        if array.shape[1] > 2 * w:  # a cheap bilinear step to twice the size first: 720p costs 0.5 ms, not 0.9
            array = cv2.resize(array, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        gray = cv2.cvtColor(array, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)  # averaging also removes sensor noise

    def flow(self, a, b, *, check: bool = True) -> Flow:
        """The motion from frame ``a`` to frame ``b`` (frames or :meth:`prepare`'d grays of one size).

        ``check``: also compute the forward field for ``valid`` (twice the cost); without it every pixel that comes
        from inside the frame counts as valid.
        """
        a, b = self.prepare(a), self.prepare(b)
        if a.shape != b.shape:
            raise ValueError(f"frames of different sizes: {a.shape} vs {b.shape}")
        backward = self._dis.calc(b, a, None)  # b(x) ~ a(x + backward(x))
        forward = self._dis.calc(a, b, None) if check else None
        positions = _grid(*b.shape) + backward
        valid = _inside(positions, b.shape)
        if forward is not None:
            valid &= _consistent(backward, forward, positions)
        carried = cv2.remap(a, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        change = cv2.blur(cv2.absdiff(b, carried), (3, 3))  # 3x3: one noisy pixel is no change
        scene_cut = bool(np.count_nonzero(change > CUT_LEVEL) > CUT_SHARE * change.size
                         or (forward is not None and np.count_nonzero(valid) < CUT_VALID * valid.size))
        return Flow(backward=backward, forward=forward, valid=valid, change=change, scene_cut=scene_cut)


def _consistent(backward: np.ndarray, forward: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """[h, w] bool: following ``backward`` then ``forward`` returns to the start (not occluded)."""
    there = cv2.remap(forward, positions, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    loop = backward + there
    bound = FB_RELATIVE * (squared_length(backward) + squared_length(there)) + FB_ABSOLUTE
    return squared_length(loop) <= bound


def squared_length(field: np.ndarray) -> np.ndarray:
    """[h, w, 2] -> [h, w] squared length (two views: 5x faster than einsum, 13x than a sum over the last axis)."""
    x, y = field[..., 0], field[..., 1]
    return x * x + y * y


def _inside(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """[h, w] bool: the position lies inside a frame of ``shape`` (one inRange: cheaper than four comparisons)."""
    h, w = shape
    return cv2.inRange(positions, (0.0, 0.0), (w - 1.0, h - 1.0)) > 0


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    """[H, W, 2] float32 pixel coordinates (x, y); read-only, shared."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grid = np.stack([xs, ys], axis=-1)
    grid.flags.writeable = False
    return grid

