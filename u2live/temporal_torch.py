"""The motion-compensated temporal state (:mod:`u2live.temporal`) with its state on a GPU, for frames on a GPU.

The host state costs about 3 ms of one core a frame in many small numpy/OpenCV calls: on a GPU that runs the model
at over 1000 masks a second it became the pipeline's limit. Here the work splits where it can:

- what two consecutive frames alone say (:meth:`u2live.temporal.MotionSmoother.motion`: the DIS flow at 160 px, the
  picture's change, the share of the model's answer to take) needs no mask, so it is computed on the host from the
  frames' host pictures *ahead*, in a small thread pool, while the GPU runs the model (:meth:`look_ahead`);
- what needs the masks (carrying the held mask, the evidence and the committed sides along the flow, hysteresis,
  the blend) runs in torch on the masks' device: about thirty small kernels a frame, no copy of a mask to the host.

The arithmetic is the host state's, step for step. Bilinear resampling differs in rounding: OpenCV's ``remap``
interpolates with weights in 1/32 pixel steps, ``grid_sample`` with exact ones, so held masks differ from the host
state's by a little at edges (bounded in tests/test_temporal_torch.py).
"""
from __future__ import annotations

import functools
import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from .flow import FlowEstimator
from .temporal import MAX_STEP, Motion, MotionSmoother, _rate

LOOK_AHEAD_THREADS = 4  # frames prepared side by side: the flow and its change maps, ~1 ms of one core a frame


class TorchMotionSmoother:
    """:class:`u2live.temporal.MotionSmoother`'s state on the masks' device: ``update(mask, pts, image=picture)``
    with ``mask`` the model's [S, S] float mask on the device and ``picture`` the frame's [H, W, 3] uint8 RGB host
    picture (numpy); returns the held [S, S] float32 mask on the device. ``host`` gives the settings and computes
    the frames' motion. :meth:`look_ahead` starts the motion of frames to come, in their order."""

    def __init__(self, host: MotionSmoother | None = None):
        self.host = host or MotionSmoother()
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: deque[tuple[np.ndarray, Future]] = deque()  # (picture, future of (gray, previous, motion))
        self._last_ahead: tuple[np.ndarray, Future] | None = None
        self._local = threading.local()
        self.reset()

    def reset(self) -> None:
        self.output: torch.Tensor | None = None  # [S, S] the last output
        self.belief: torch.Tensor | None = None  # [h, w] the running average of the model's answers
        self.side: torch.Tensor | None = None  # [h, w] 0/1, the side each pixel is committed to
        self.gray: np.ndarray | None = None  # [h, w] uint8, the last frame prepared for the flow
        self.picture: np.ndarray | None = None  # the host picture that gray was made from
        self.pts: float | None = None

    def look_ahead(self, pictures) -> None:
        """Start preparing each host picture and its motion from the one before (in the order given, which must be
        the order of the coming :meth:`update` calls) in the thread pool."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(min(LOOK_AHEAD_THREADS, os.cpu_count() or 1),
                                            thread_name_prefix="u2live-motion")
        for picture in pictures:
            before = self._last_ahead
            self._last_ahead = (picture, self._pool.submit(self._prepare, picture, before))
            self._ahead.append(self._last_ahead)

    def _prepare(self, picture: np.ndarray, before: tuple[np.ndarray, Future] | None):
        gray = self.host.flow.prepare(picture)
        if before is None:
            return gray, None, None
        previous = before[1].result()[0]  # submitted earlier: started or done, never waiting on a later one
        if previous.shape != gray.shape:
            return gray, before[0], None
        if not hasattr(self._local, "flow"):  # DIS is not shared across threads: one estimator per pool thread
            self._local.flow = FlowEstimator(self.host.flow.size, preset=self.host.flow.preset)
        return gray, before[0], self.host.motion(previous, gray, self._local.flow)

    def update(self, mask: torch.Tensor, pts: float, image: np.ndarray | None = None, flow=None) -> torch.Tensor:
        """The held mask for this frame (see :class:`u2live.temporal.MotionSmoother`). ``flow`` is not taken: the
        motion comes from the look-ahead threads, or is computed here."""
        model = mask.float()
        gray, motion = self._motion_for(image)
        small = None if gray is None else _resize(model, gray.shape)
        if self._continues(model, gray, float(pts)):
            if motion is None:  # a scene cut
                self._start_afresh(model, small)
            else:
                self._step(model, small, motion, min(float(pts) - self.pts, MAX_STEP))
        else:
            self._start_afresh(model, small)
        self.gray, self.picture, self.pts = gray, image, float(pts)
        return self.output

    def _motion_for(self, image: np.ndarray | None) -> tuple[np.ndarray | None, Motion | None]:
        """This picture's gray and its motion from the last picture, from :meth:`look_ahead` where it started them
        (for this very picture after the last one), else computed now."""
        while self._ahead and self._ahead[0][0] is not image:  # pictures looked at but never updated (a stop)
            self._ahead.popleft()
        if image is None:
            return None, None
        if self._ahead:
            gray, previous, motion = self._ahead.popleft()[1].result()
            if previous is self.picture and previous is not None:
                return gray, motion
        else:
            gray = self.host.flow.prepare(image)
        if self.gray is None or self.gray.shape != gray.shape:
            return gray, None
        return gray, self.host.motion(self.gray, gray)

    def _continues(self, model: torch.Tensor, gray: np.ndarray | None, pts: float) -> bool:
        return (self.output is not None and gray is not None and self.gray is not None and pts > self.pts
                and self.output.shape == model.shape and self.output.device == model.device
                and self.gray.shape == gray.shape)

    def _step(self, model: torch.Tensor, small: torch.Tensor, motion: Motion, dt: float) -> None:
        host = self.host
        field, take, fresh = _upload(motion, model.device)
        belief, side = _warp(torch.stack([self.belief, self.side]), field)
        belief = belief + fresh.float().clamp_(min=float(_rate(dt, host.evidence))) * (small - belief)
        side = _commit(side, belief, small, fresh, host.commit)
        disagree = (small >= 0.5) != (side >= 0.5)
        keep = (1.0 - take.clamp(min=float(_rate(dt, host.follow)))).masked_fill_(disagree, 1.0)
        limit = torch.full_like(take, host.bound).masked_fill_(disagree, 1.0)
        keep, limit = _resize(torch.stack([keep, limit]), model.shape)
        held = (keep * (_warp(self.output, field) - model)).clamp_(-limit, limit)  # clamp: limit >= 0
        self.output = model + held
        self.belief, self.side = belief, side

    def _start_afresh(self, model: torch.Tensor, small: torch.Tensor | None) -> None:
        self.output, self.belief = model.clone(), small
        self.side = None if small is None else (small >= 0.5).float()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._ahead.clear()
        self._last_ahead = None

    def __repr__(self) -> str:
        return f"TorchMotionSmoother({self.host!r})"


def _upload(motion: Motion, device: torch.device):
    """The motion's field (None where nothing moved), take and fresh maps on ``device``, in one non-blocking copy
    through page-locked memory: a copy from ordinary host memory waits for everything queued on a GPU first."""
    h, w = motion.take.shape
    packed = torch.empty((4, h, w), dtype=torch.float32, pin_memory=device.type != "cpu")
    host = packed.numpy()
    host[0], host[1] = motion.flow.backward[..., 0], motion.flow.backward[..., 1]
    host[2], host[3] = motion.take, motion.fresh
    packed = packed.to(device, non_blocking=True)
    field = packed[:2].permute(1, 2, 0) if motion.flow.backward.any() else None
    return field, packed[2], packed[3] > 0.5


def _commit(side, belief, small, fresh, commit: tuple[float, float]) -> torch.Tensor:
    """[h, w] float 0/1: :meth:`u2live.temporal.MotionSmoother._commit` in torch."""
    person = (side >= 0.5) | (belief >= commit[1])
    person &= belief > commit[0]
    return torch.where(fresh, small >= 0.5, person).float()


def _resize(x: torch.Tensor, shape) -> torch.Tensor:
    """[..., h, w] float -> [..., H, W], bilinear with half-pixel centres (``cv2.resize``'s INTER_LINEAR, which
    does not average when shrinking either)."""
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    lead = x.shape[:-2]
    out = F.interpolate(x.reshape(1, -1, *x.shape[-2:]), size=tuple(shape), mode="bilinear", align_corners=False)
    return out.reshape(*lead, *shape)


@functools.lru_cache(maxsize=8)
def _centres(height: int, width: int, device: torch.device) -> torch.Tensor:
    """[H, W, 2] float32: each pixel centre's (x, y) in grid_sample's coordinates (align_corners=True)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height, device=device), torch.linspace(-1, 1, width, device=device),
                            indexing="ij")
    return torch.stack([xs, ys], dim=-1)


def _warp(x: torch.Tensor, field: torch.Tensor | None) -> torch.Tensor:
    """[..., H, W] float carried along ``field`` ([h, w, 2] working-resolution (dx, dy) to where each pixel was):
    ``cv2.remap`` bilinear with replicated borders, the field scaled to [H, W] first. None: nothing moved."""
    if field is None:
        return x.clone()
    height, width = x.shape[-2:]
    h, w = field.shape[:2]
    vectors = field.permute(2, 0, 1)
    if (height, width) != (h, w):  # vectors in x's pixels, then resized (as u2live.flow.Flow._map does)
        vectors = _resize(torch.stack([vectors[0] * (width / w), vectors[1] * (height / h)]), (height, width))
    # grid_sample's align_corners=True puts -1 and 1 on the first and last pixel centres: remap's pixel coordinates
    # (scaled by Python numbers: a tensor made from a list would be a copy to the device, which waits for the GPU)
    steps = torch.stack([vectors[0] * (2 / max(width - 1, 1)), vectors[1] * (2 / max(height - 1, 1))], dim=-1)
    grid = _centres(height, width, x.device) + steps
    lead = x.shape[:-2]
    out = F.grid_sample(x.reshape(1, -1, height, width), grid[None], mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out.reshape(*lead, height, width)
