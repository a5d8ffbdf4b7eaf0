"""Full-resolution masks: the model-size mask brought to the frame's size, its edges snapped to the frame's edges.

A guided filter (He, Sun and Tang, "Guided Image Filtering", 2010/2013) fits, in every window, the mask as a linear
function of the guide image, ``q = a * I + b``: where the frame has an edge the mask gets one too, where the frame
is flat the mask is smoothed. It runs as the *fast* guided filter (He and Sun, 2015): the coefficients ``a`` and
``b`` are computed on a grid about the mask's own resolution and upsampled bilinearly, so the full-resolution cost
is one gray conversion, one coefficient upsampling and one multiply-add. Box means are running sums (O(1) per
pixel), on the device of the inputs.

Defaults were chosen by measurement on the authors' 18 reference images (``benchmarks/smoothing.py``, figures in
``benchmarks/results/smoothing-refine.md``): against plain bilinear upsampling the undecided edge band is ~40%
narrower and the mask's edges sit ~45% more on the picture's edges; the colour guide was no better and ~4x slower.

On the CPU the same filter runs in OpenCV's SIMD kernels (:func:`refine_mask_cpu`): the guide is the 8-bit gray
frame (``cv2.cvtColor``), the working grid is reached by area averaging, and the full-resolution pass is one
bilinear upsampling of the coefficients and one multiply-add. It differs from the torch path (kept for GPUs, and
as the plain reference) by the 8-bit rounding of the guide and area vs antialiased-bilinear shrinking: mean
absolute difference ~1e-3 on the reference images (bounded in tests/test_render_cpu.py).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .compositor import STRIP_ROWS, alpha_uint8

#: defaults chosen by measurement (benchmarks/smoothing.py): radius in pixels of the working grid, eps for guides
#: in [0, 1], the contrast applied to the model's soft ramp first, and the working grid's longer side in pixels
RADIUS = 1
EPS = 1e-3
CONTRAST = 2.0
GRID = 320
GUIDE_SIGMA = 0.45  # see refine_mask_cpu; 0.3 left the band 3% wider than torch's, 0.6 moved the edge MAE 6%
LUMA = (0.299, 0.587, 0.114)


def upsample_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[h, w] float mask -> [height, width] float32, bilinear (half-pixel centres, like cv2.INTER_LINEAR)."""
    return _resize(mask.float()[None, None], height, width)[0, 0]


def refine_mask(mask: torch.Tensor, image: torch.Tensor, *, radius: int = RADIUS, eps: float = EPS,
                guide: str = "gray", contrast: float = CONTRAST, grid: int = GRID,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[h, w] float mask in [0, 1] and the [H, W, 3] uint8 frame -> [H, W] float32 mask in [0, 1], on their device;
    with ``dtype=torch.uint8``, round(255 * mask) (what the CPU's compositing kernels take, one pass saved).

    CPU tensors with the gray guide take :func:`refine_mask_cpu`; anything else :func:`refine_mask_torch`.
    """
    if image.device.type == "cpu" and guide == "gray":
        refined = refine_mask_cpu(mask.float().numpy(), image.numpy(), radius=radius, eps=eps, contrast=contrast,
                                  grid=grid, dtype=np.uint8 if dtype == torch.uint8 else np.float32)
        return torch.from_numpy(refined)
    refined = refine_mask_torch(mask, image, radius=radius, eps=eps, guide=guide, contrast=contrast, grid=grid)
    return refined if dtype != torch.uint8 else refined.mul(255.0).add_(0.5).to(torch.uint8)


def refine_masks(masks: torch.Tensor, images: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """:func:`refine_mask` for a batch: [N, h, w] masks and [N, H, W, 3] frames -> [N, H, W]. On a GPU the whole
    batch in one set of kernels (per frame, the launches cost more than the work); on the CPU frame by frame."""
    if images.device.type == "cpu":
        return torch.stack([refine_mask(m, i, dtype=dtype) for m, i in zip(masks, images)])
    refined = refine_mask_torch(masks, images)
    return refined if dtype != torch.uint8 else refined.mul(255.0).add_(0.5).to(torch.uint8)


def refine_mask_torch(mask: torch.Tensor, image: torch.Tensor, *, radius: int = RADIUS, eps: float = EPS,
                      guide: str = "gray", contrast: float = CONTRAST, grid: int = GRID) -> torch.Tensor:
    """The guided filter in torch, on any device: [h, w] float mask in [0, 1] and the [H, W, 3] uint8 frame ->
    [H, W] float32 mask in [0, 1]; or a batch, [N, h, w] and [N, H, W, 3] -> [N, H, W].

    The mask's ramp is first steepened by ``contrast`` around 0.5 (as He et al. feather a binary mask: the
    softness of the result should come from the frame, not from the 320-pixel model). ``radius`` is in pixels of
    the working grid, whose longer side is ``grid`` (so it scales with the frame); ``guide`` is ``gray`` (one
    channel, fastest) or ``color`` (the full 3x3 colour model).
    """
    single = image.dim() == 3
    images, masks = (image[None], mask[None]) if single else (image, mask)
    height, width = images.shape[1:3]
    full = _guide(images, guide)  # [N, C, H, W] in [0, 1]
    scale = max(height, width) / grid
    low_h, low_w = (height, width) if scale <= 1 else (round(height / scale), round(width / scale))
    low_guide = _resize(full, low_h, low_w, antialias=True)  # [N, C, h', w']
    low_mask = _resize(masks.float()[:, None], low_h, low_w, antialias=True)  # [N, 1, h', w']
    if contrast != 1:
        low_mask = low_mask.sub_(0.5).mul_(contrast).add_(0.5).clamp_(0.0, 1.0)
    solve = _coefficients_gray if full.shape[1] == 1 else _coefficients_color
    a, b = solve(low_guide, low_mask, radius, eps)  # [N, C, h', w'], [N, 1, h', w']
    coeffs = _resize(box_filter(torch.cat([a, b], dim=1), radius), height, width)
    a, b = coeffs[:, :-1], coeffs[:, -1:]
    if a.shape[1] == 1:
        refined = torch.addcmul(b, a, full).clamp_(0.0, 1.0)[:, 0]
    else:
        refined = (a * full).sum(dim=1).add_(b[:, 0]).clamp_(0.0, 1.0)
    return refined[0] if single else refined


def _guide(images: torch.Tensor, guide: str) -> torch.Tensor:
    """[N, H, W, 3] uint8 frames -> [N, C, H, W] float guides in [0, 1]."""
    if guide == "gray":
        return (images.float() @ _luma(images.device))[:, None]  # [N, 1, H, W]
    if guide == "color":
        return images.permute(0, 3, 1, 2).float().div_(255.0)  # [N, 3, H, W]
    raise ValueError(f"guide must be 'gray' or 'color', got {guide!r}")


@functools.lru_cache(maxsize=4)
def _luma(device: torch.device) -> torch.Tensor:
    """The luma weights over 255 on ``device``, made once: a copy from host memory per frame would wait for
    everything queued on a GPU first."""
    return torch.tensor(LUMA, dtype=torch.float32, device=device) / 255.0


def _resize(x: torch.Tensor, height: int, width: int, antialias: bool = False) -> torch.Tensor:
    if x.shape[-2:] == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=antialias)


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window clipped at the borders, by running sums along each axis: O(1) per pixel
    (separable ``avg_pool2d`` measured ~4x slower at radius 4, and the gap grows with the radius)."""
    sums = _window_sums(_window_sums(x, radius, x.dim() - 1), radius, x.dim() - 2)
    return sums / (_counts(x.shape[-2], radius, x)[:, None] * _counts(x.shape[-1], radius, x))


def _window_sums(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    # zeros beyond the borders add nothing to a window's sum; the counts divide by the pixels really in it
    padded = F.pad(x, [0, 0] * (x.dim() - 1 - dim) + [radius + 1, radius])
    sums = padded.cumsum(dim)  # sums[j] = x[0 : j - radius].sum() along dim
    return sums.narrow(dim, 2 * radius + 1, n) - sums.narrow(dim, 0, n)


def _counts(n: int, radius: int, like: torch.Tensor) -> torch.Tensor:
    i = torch.arange(n, device=like.device, dtype=like.dtype)
    return (i + radius + 1).clamp_(max=n) - (i - radius).clamp_(min=0)


def _coefficients_gray(guide: torch.Tensor, mask: torch.Tensor, radius: int, eps: float):
    means = box_filter(torch.cat([guide, mask, guide * guide, guide * mask], dim=1), radius)
    mean_i, mean_p, mean_ii, mean_ip = means.unbind(dim=1)
    a = (mean_ip - mean_i * mean_p) / (mean_ii - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return a[:, None], b[:, None]


def _coefficients_color(guide: torch.Tensor, mask: torch.Tensor, radius: int, eps: float):
    r, g, b_ = guide.unbind(dim=1)
    p = mask[:, 0]
    stack = torch.stack([r, g, b_, p, r * r, r * g, r * b_, g * g, g * b_, b_ * b_, r * p, g * p, b_ * p], dim=1)
    m = box_filter(stack, radius).unbind(dim=1)
    mean_i, mean_p = torch.stack(m[0:3], dim=1), m[3]  # [1, 3, h, w], [1, h, w]
    rr, rg, rb, gg, gb, bb = (m[4 + k] - mean_i[:, i] * mean_i[:, j] for k, (i, j) in
                              enumerate([(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]))
    rr, gg, bb = rr + eps, gg + eps, bb + eps
    cov_ip = torch.stack(m[10:13], dim=1) - mean_i * mean_p[:, None]  # [1, 3, h, w]
    # the inverse of the symmetric 3x3 (Sigma + eps I) by cofactors: elementwise, no batched solve
    inv = [gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb, rr * bb - rb * rb, rb * rg - rr * gb,
           rr * gg - rg * rg]
    det = rr * inv[0] + rg * inv[1] + rb * inv[2]
    c0, c1, c2 = cov_ip.unbind(dim=1)
    a = torch.stack([inv[0] * c0 + inv[1] * c1 + inv[2] * c2,
                     inv[1] * c0 + inv[3] * c1 + inv[4] * c2,
                     inv[2] * c0 + inv[4] * c1 + inv[5] * c2], dim=1) / det[:, None]
    b = mean_p - (a * mean_i).sum(dim=1)
    return a, b[:, None]


def refine_mask_cpu(mask: np.ndarray, image: np.ndarray, *, radius: int = RADIUS, eps: float = EPS,
                    contrast: float = CONTRAST, grid: int = GRID, dtype=np.float32) -> np.ndarray:
    """:func:`refine_mask_torch` with the gray guide in OpenCV: [h, w] float32 mask, [H, W, 3] uint8 RGB frame ->
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
    """:func:`box_filter` for [H, W] or [H, W, C] float32 arrays: window means clipped at the borders."""
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
