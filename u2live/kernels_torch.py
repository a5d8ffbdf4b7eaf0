"""The stage kernels for frames on a GPU: torch on the device, from the upload to the finished picture (the CPU's
are numpy and OpenCV, :class:`u2live.kernels.CpuKernels`; both take the same calls). This is the one module of the
render path the GPU kit (``benchmarks/gpu_check.sh``) exists to exercise.

- Frames go up through page-locked memory without blocking (:class:`Uploader`) and come down the same way
  (:class:`Download`): nothing here waits for the GPU per frame.
- Alphas are float32 in [0, 1]; compositing is ``torch.lerp`` in float32, rounded half up.
- The guided filter (:func:`refine_mask`) and the background blur (:func:`blur_background`) are the algorithms of
  :mod:`u2live.refine` and :mod:`u2live.backgrounds` on the full float grid; the CPU's versions differ from them by
  8-bit rounding (bounded in ``tests/test_render_cpu.py``). On CPU tensors they are the plain reference.
- The motion-compensated smoother keeps its state on the device (:mod:`u2live.temporal_torch`).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .backgrounds import FALLBACK
from .refine import CONTRAST, EPS, GRID, LUMA, RADIUS
from .temporal import MotionSmoother


class Uploader:
    """Lists of [H, W, 3] uint8 numpy frames -> [N, H, W, 3] uint8 tensors on ``device``. On a GPU each batch is
    stacked into page-locked memory from torch's caching host allocator and copied without blocking: the allocator
    hands a block out again only once the copy out of it is done, so nothing here waits for the GPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        if self.device.type == "cpu":
            return torch.from_numpy(np.stack(images))
        staging = torch.empty((len(images), *images[0].shape), dtype=torch.uint8, pin_memory=True)
        np.stack(images, out=staging.numpy())
        return staging.to(self.device, non_blocking=True)


class Download:
    """A tensor on its way to host memory: on a GPU a non-blocking copy into page-locked memory (torch's caching
    host allocator reuses it once freed) and an event; :meth:`wait` waits for that copy only, not for the work
    queued after it. A CPU tensor is there already."""

    def __init__(self, tensor: torch.Tensor):
        if tensor.device.type == "cpu":
            self.host, self.event = tensor, None
            return
        self.host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        self.host.copy_(tensor, non_blocking=True)
        self.event = torch.cuda.Event()
        self.event.record()

    def wait(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
        return self.host.numpy()


def composite(image: torch.Tensor, background: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[H, W, 3] uint8 frame over [H, W, 3] uint8 background (anything broadcastable, e.g. [1, 1, 3]) by alpha."""
    a = alpha_float(alpha).clamp(0.0, 1.0).unsqueeze(-1)  # [H, W, 1]
    return _to_uint8(torch.lerp(background.float(), image.float(), a))  # bg + (fg - bg) * a


def matte(alpha: torch.Tensor) -> torch.Tensor:
    """The mask itself as a grayscale picture: [H, W] alpha -> [H, W, 3] uint8 (contiguous, ready for encoders)."""
    gray = _to_uint8(alpha_float(alpha) * 255.0)
    return gray.unsqueeze(-1).expand(-1, -1, 3).contiguous()


def rgba(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[H, W, 3] uint8 frame and [H, W] alpha -> [H, W, 4] uint8, straight (not premultiplied) alpha."""
    return torch.cat([image, _to_uint8(alpha_float(alpha) * 255.0).unsqueeze(-1)], dim=-1)


def alpha_float(alpha: torch.Tensor) -> torch.Tensor:
    """Alpha as float in [0, 1] (an 8-bit alpha is divided by 255)."""
    return alpha.float() / 255.0 if alpha.dtype == torch.uint8 else alpha.float()


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    # +0.5 then truncation is round-half-up for the non-negative values left after the clamp
    return x.add(0.5).clamp_(0.0, 255.0).to(torch.uint8)


def upsample_mask(mask: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[h, w] float mask -> [height, width] float32, bilinear (half-pixel centres, like cv2.INTER_LINEAR)."""
    return _resize(mask.float()[None, None], height, width)[0, 0]


def refine_mask(mask: torch.Tensor, image: torch.Tensor, *, radius: int = RADIUS, eps: float = EPS,
                      guide: str = "gray", contrast: float = CONTRAST, grid: int = GRID) -> torch.Tensor:
    """The guided filter of :mod:`u2live.refine` in torch, on any device: [h, w] float mask in [0, 1] and the
    [H, W, 3] uint8 frame -> [H, W] float32 mask in [0, 1]; or a batch, [N, h, w] and [N, H, W, 3] -> [N, H, W], in
    one set of kernels (on a GPU, per frame, the launches cost more than the work).

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


def blur_background(image: torch.Tensor, alpha: torch.Tensor, radius: int) -> torch.Tensor:
    """:class:`u2live.backgrounds.BlurBackground` in torch, on any device: [H, W, 3] uint8 frame, [H, W] alpha ->
    [H, W, 3] uint8."""
    height, width = image.shape[:2]
    factor = max(1, radius // 4)
    low = (math.ceil(height / factor), math.ceil(width / factor))
    picture = image.permute(2, 0, 1).unsqueeze(0).float()  # [1, 3, H, W]
    # squared: a half-covered edge pixel counts a quarter, so mixed edge colours barely enter the blur
    weight = (1.0 - alpha_float(alpha).clamp(0.0, 1.0)).square_()[None, None]  # [1, 1, H, W]
    colour, cover, plain = (F.interpolate(x, size=low, mode="area") for x in (picture * weight, weight, picture))
    # cells beside the subject may still hold some of it: trust a cell only as much as its least covered
    # neighbour (an erosion of the background weight by one cell)
    trust = -F.max_pool2d(-cover, 3, stride=1, padding=1)
    layers = _blur(torch.cat([colour * trust, cover * trust, plain], dim=1), max(1, round(radius / factor)))
    # where no background is near (deep inside the subject) fall back to the plain blur; alpha hides it there
    blurred = (layers[:, :3] + FALLBACK * layers[:, 4:]) / (layers[:, 3:4] + FALLBACK)
    blurred = F.interpolate(blurred, size=(height, width), mode="bilinear", align_corners=False)
    return blurred[0].permute(1, 2, 0).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Three box passes of radius r/2 each: a Gaussian-like blur of about radius r."""
    step = max(1, radius // 2)
    for _ in range(3):
        x = box_filter(x, step)
    return x


class TorchKernels:
    """The stages on torch tensors on ``device`` (see :mod:`u2live.kernels` for the calls)."""

    name = "torch"

    def __init__(self, device):
        self.device = torch.device(device)
        self.on_gpu = self.device.type != "cpu"
        self.upload = Uploader(self.device)

    def inference(self):
        return torch.inference_mode()

    def download(self, pictures: torch.Tensor) -> Download:
        return Download(pictures)

    def to_host(self, picture: torch.Tensor) -> np.ndarray:
        return picture.cpu().numpy()

    def stack(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(tensors))

    def plane(self, picture: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(picture)).to(self.device)  # a copy: the picture may be read-only

    def refine(self, mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return refine_mask(mask, image)

    def refine_batch(self, masks: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return refine_mask(masks, images)

    def smoother(self, smoother):
        """On a GPU the motion-compensated state kept there (:mod:`u2live.temporal_torch`); else as it is."""
        if not self.on_gpu or not isinstance(smoother, MotionSmoother):
            return smoother
        from .temporal_torch import TorchMotionSmoother

        return TorchMotionSmoother(smoother)

    composite = staticmethod(composite)
    matte = staticmethod(matte)
    rgba = staticmethod(rgba)
    blur_background = staticmethod(blur_background)
