"""Full-resolution masks: the model-size mask brought to the frame's size, its edges snapped to the frame's edges.

A guided filter (He, Sun and Tang, "Guided Image Filtering", 2010/2013) fits, in every window, the mask as a linear
function of the guide image, ``q = a * I + b``: where the frame has an edge the mask gets one too, where the frame
is flat the mask is smoothed. It runs as the *fast* guided filter (He and Sun, 2015): the coefficients ``a`` and
``b`` are computed on a grid about the mask's own resolution and upsampled bilinearly, so the full-resolution cost
is one gray conversion, one coefficient upsampling and one multiply-add. Box means cost O(1) per pixel.

Defaults were chosen by measurement on the authors' 18 reference images (``benchmarks/smoothing.py``, figures in
``benchmarks/results/smoothing-refine.md``): against plain bilinear upsampling the undecided edge band is ~40%
narrower and the mask's edges sit ~45% more on the picture's edges; the colour guide was no better and ~4x slower.

Here the filter runs on the CPU in OpenCV's SIMD kernels (:func:`refine_mask`): the guide is the 8-bit gray frame
(``cv2.cvtColor``), the working grid is reached by area averaging, and the full-resolution pass is one bilinear
upsampling of the coefficients and one multiply-add. The torch version (:func:`u2live.kernels_torch.refine_mask`,
for frames on a GPU, and the plain reference with the colour guide) differs by the 8-bit rounding of the guide and
area vs antialiased-bilinear shrinking: mean absolute difference ~1e-3 on the reference images (bounded in
tests/test_render_cpu.py).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from .compositor import STRIP_ROWS, alpha_uint8

#: defaults chosen by measurement (benchmarks/smoothing.py): radius in pixels of the working grid, eps for guides
#: in [0, 1], the contrast applied to the model's soft ramp first, and the working grid's longer side in pixels
RADIUS = 1
EPS = 1e-3
CONTRAST = 2.0
GRID = 320
GUIDE_SIGMA = 0.45  # see refine_mask; 0.3 left the band 3% wider than torch's, 0.6 moved the edge MAE 6%
LUMA = (0.299, 0.587, 0.114)


def refine_mask(mask: np.ndarray, image: np.ndarray, *, radius: int = RADIUS, eps: float = EPS,
                contrast: float = CONTRAST, grid: int = GRID, dtype=np.float32) -> np.ndarray:
    """The guided filter with the gray guide in OpenCV: [h, w] float32 mask, [H, W, 3] uint8 RGB frame ->
    [H, W] mask, float32 in [0, 1] or (``dtype=np.uint8``) round(255 * mask). The full-resolution work is the gray
    frame, its shrinking, and (strip by strip, while the rows are in cache) coefficient upsampling and multiply-add."""
    height, width = image.shape[:2]
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)  # [H, W] uint8, the same luma weights
    scale = max(height, width) / grid
    low = (width, height) if scale <= 1 else (round(width / scale), round(height / scale))
    low_guide = shrink(gray, low).astype(np.float32) * np.float32(1 / 255)
    if scale >= 1.5:
        # area averaging is a box prefilter, torch's antialiased bilinear a triangle: a Gaussian of GUIDE_SIGMA grid
        # pixels after it brings the edge measures back to the torch path's (benchmarks/smoothing.py)
        low_guide = cv2.GaussianBlur(low_guide, (0, 0), GUIDE_SIGMA)
    low_mask = shrink(np.ascontiguousarray(mask, dtype=np.float32), low)
    if contrast != 1:
        low_mask = np.clip((low_mask - 0.5) * contrast + 0.5, 0.0, 1.0)
    means = box_mean(cv2.merge([low_guide, low_mask, low_guide * low_guide, low_guide * low_mask]), radius)
    mean_i, mean_p, mean_ii, mean_ip = cv2.split(means)
    a = (mean_ip - mean_i * mean_p) / (mean_ii - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    # a is per unit of the [0, 1] guide: divided by 255 it applies to the 8-bit gray directly
    a, b = cv2.split(box_mean(cv2.merge([a * np.float32(1 / 255), b]), radius))
    full_a, full_b = (cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in (a, b))
    refined = np.empty((height, width), dtype)
    for top in range(0, height, STRIP_ROWS):
        rows = slice(top, top + STRIP_ROWS)
        q = cv2.add(cv2.multiply(full_a[rows], gray[rows], dtype=cv2.CV_32F), full_b[rows])
        if refined.dtype == np.uint8:
            refined[rows] = alpha_uint8(q)
        else:
            np.clip(q, 0.0, 1.0, out=refined[rows])
    return refined


def shrink(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area averaging where it shrinks both axes (no aliasing), bilinear otherwise.
    Exact halvings go first: OpenCV's 2x2 area kernel is ~4x faster than its general one at 1/4 of 1280x720."""
    width, height = size
    while x.shape[1] % 2 == 0 and x.shape[0] % 2 == 0 and width * 2 <= x.shape[1] and height * 2 <= x.shape[0]:
        x = cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (x.shape[1], x.shape[0]) == size:
        return x
    area = width <= x.shape[1] and height <= x.shape[0]
    return cv2.resize(x, size, interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)


def box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """[H, W] or [H, W, C] float32 -> the mean over each (2r+1)^2 window clipped at the borders."""
    window = (2 * radius + 1, 2 * radius + 1)
    sums = cv2.boxFilter(x, -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT)
    channels = x.shape[2] if x.ndim == 3 else 1
    return cv2.multiply(sums, _inverse_counts(x.shape[0], x.shape[1], radius, channels))


@functools.lru_cache(maxsize=16)
def _inverse_counts(height: int, width: int, radius: int, channels: int) -> np.ndarray:
    """1 / (pixels in each clipped window), [height, width(, channels)] float32: the same every frame, built once."""
    i, j = (np.arange(n, dtype=np.float32) for n in (height, width))
    rows = np.minimum(i + radius + 1, height) - np.maximum(i - radius, 0)
    cols = np.minimum(j + radius + 1, width) - np.maximum(j - radius, 0)
    inverse = 1.0 / np.outer(rows, cols).astype(np.float32)
    return inverse if channels == 1 else np.ascontiguousarray(np.repeat(inverse[..., None], channels, axis=2))
