"""The motion-compensated temporal state: a pixel's mask changes only as much as its picture changed.

U2-Net† decides every frame afresh, so where it is unsure a region blinks although the picture did not change
(issue 10: the man's torso in Megamind frames 225-236 vanished in 7 of 12 frames). Each frame:

1. the previous output mask is carried to this frame along the dense optical flow (:mod:`u2live.flow`);
2. per pixel, the model's new answer is taken in proportion to how much the picture changed there after
   following the motion: fully where it changed by ``moving`` gray levels or more, not at all below ``still``;
   but not where it contradicts the model's evidence (below): a moving region the model drops for a frame or
   two is a blink, not news;
3. where the carried mask cannot be trusted (occluded or uncovered: the forward-backward check; come from outside
   the frame) the model's answer is taken, and after a scene cut everything starts afresh;
4. where the picture holds still the state still drifts towards the model, with time constant ``hold`` (by pts),
   so a lasting change of the model's mind gets through; but only where the model's *evidence* is sure: a
   running average of its answers over ``evidence`` seconds, carried along the motion like the mask, below
   ``unsure[0]`` or above ``unsure[1]``. Where the model keeps changing its mind the evidence averages out to
   unsure and the region keeps its last confident state instead of flipping (hysteresis). Steps longer than
   ``MAX_STEP`` count as that long: one answer is one piece of evidence, however late it comes.

Measured in ``benchmarks/temporal.py`` (warping error, still-pixel flicker, fidelity; results in
``benchmarks/results/temporal.md``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .flow import FlowEstimator, squared_length

#: defaults, tuned on Megamind frames 0-119 only (benchmarks/temporal.py)
STILL = 4.0  # gray levels: a change this small is compression noise, the mask holds
MOVING = 16.0  # gray levels: a change this large is real, the model's answer is taken
HOLD = 0.5  # seconds: where the picture is still, the time constant of the drift towards a sure model
EVIDENCE = 0.15  # seconds: the time constant of the running average of the model's answers
UNSURE = (0.35, 0.65)  # evidence between these does not move a still pixel
# One answer of the model is one piece of evidence however long ago the previous one came: at 2 fps (tree.avi)
# a time-only rate would let every answer through almost whole. Longer steps count as this long.
MAX_STEP = 0.1  # seconds
NOISE_FLOW = 0.5  # working pixels: a flow this small where the picture did not change is noise
FLOW_SIZE = 192  # long side of the flow's working resolution (3/20 of 720p; 256 measured no better)


class MotionSmoother:
    """Explicit temporal state: ``update(mask, pts, image=frame)`` returns the held mask; ``reset()`` forgets.

    ``mask`` is the model's [S, S] float mask in [0, 1] for ``image`` ([H, W, 3] uint8 RGB, numpy or torch) at
    ``pts`` seconds; the result has the mask's shape and device, float32. Without an image, after a pts that does
    not move forward (seek, loop), a change of size, or a scene cut, it starts afresh from the model's mask.
    The mask stays at its own resolution; everything that decides how much of the model to take per pixel (the
    picture's change, validity, the evidence) lives at the flow's working resolution, which is what keeps it cheap.
    """

    def __init__(self, *, still: float = STILL, moving: float = MOVING, hold: float = HOLD,
                 evidence: float = EVIDENCE, unsure: tuple[float, float] = UNSURE, flow_size: int = FLOW_SIZE):
        if not 0 <= still < moving or hold <= 0 or evidence <= 0 or not 0 <= unsure[0] <= unsure[1] <= 1:
            raise ValueError(f"bad temporal settings: still={still}, moving={moving}, hold={hold}, "
                             f"evidence={evidence}, unsure={unsure}")
        self.still, self.moving, self.hold, self.evidence = float(still), float(moving), float(hold), float(evidence)
        self.unsure = (float(unsure[0]), float(unsure[1]))
        self.flow = FlowEstimator(flow_size)
        # the share of the model's answer to take, per gray level of change (a lookup is cheaper than the formula)
        self._take_by_change = _smoothstep(self.still, self.moving, np.arange(256, dtype=np.float32))
        self.reset()

    def reset(self) -> None:
        self.output: np.ndarray | None = None  # [S, S] float32, the last output
        self.belief: np.ndarray | None = None  # [h, w] float32, the running average of the model's answers
        self.gray: np.ndarray | None = None  # [h, w] uint8, the last frame prepared for the flow
        self.pts: float | None = None

    def update(self, mask, pts: float, image=None):
        """The held mask for this frame (see the class docstring)."""
        model = _numpy(mask)
        gray = None if image is None else self.flow.prepare(image)
        small = None if gray is None else cv2.resize(model, gray.shape[::-1], interpolation=cv2.INTER_AREA)
        if self._continues(model, gray, float(pts)):
            self._step(model, small, gray, min(float(pts) - self.pts, MAX_STEP))
        else:
            self.output, self.belief = model.copy(), small
        self.gray, self.pts = gray, float(pts)
        return _like(self.output, mask)

    def _continues(self, model: np.ndarray, gray: np.ndarray | None, pts: float) -> bool:
        return (self.output is not None and gray is not None and self.gray is not None and pts > self.pts
                and self.output.shape == model.shape and self.gray.shape == gray.shape)

    def _step(self, model: np.ndarray, small: np.ndarray, gray: np.ndarray, dt: float) -> None:
        """Carries the state to this frame and blends in the model; a scene cut starts afresh."""
        flow = self.flow.flow(self.gray, gray)
        if flow.scene_cut:
            self.output, self.belief = model.copy(), small
            return
        # Where the picture did not change and the flow is sub-pixel, nothing moved: no resampling there, so flow
        # noise does not wear the held mask down (a large flow over a flat area is kept: the aperture problem).
        plain = cv2.blur(cv2.absdiff(gray, self.gray), (3, 3))
        unchanged = plain < self.still
        flow.backward *= ~(unchanged & (squared_length(flow.backward) < NOISE_FLOW ** 2))[..., None]
        change = cv2.min(flow.change, plain)
        fresh = ~(flow.valid | unchanged)  # occluded or from outside the frame: nothing to carry
        change[fresh] = 255
        take = cv2.LUT(change, self._take_by_change)  # [h, w] float32: the share of the model's answer to take
        belief = flow.warp(self.belief)
        belief += np.maximum(fresh, _rate(dt, self.evidence), dtype=np.float32) * (small - belief)
        high = small >= 0.5
        take *= fresh | (high == (belief >= 0.5))  # moving, but the model contradicts the evidence: a blink, hold
        # still, and the model says what the evidence is sure of: a slow drift towards the model
        sure = np.where(high, belief >= self.unsure[1], belief <= self.unsure[0])
        take += (1.0 - take) * sure * _rate(dt, self.hold)
        carried = flow.warp(self.output)
        carried += flow.resize(take, model.shape) * (model - carried)
        self.output, self.belief = carried, belief

    def __repr__(self) -> str:
        return (f"MotionSmoother(still={self.still:g}, moving={self.moving:g}, hold={self.hold:g}s, "
                f"evidence={self.evidence:g}s, unsure={self.unsure}, flow at {self.flow.size} px)")


def _rate(dt: float, time_constant: float) -> np.float32:
    """The share of the way an exponential average with ``time_constant`` moves in ``dt`` seconds."""
    return np.float32(1.0 - math.exp(-dt / time_constant))


def _smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _numpy(mask) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    return np.asarray(mask, dtype=np.float32)


def _like(state: np.ndarray, mask):
    """``state`` as the caller's type (a torch tensor on the mask's device, or numpy). No copy: each step makes a
    new state array and never writes into one it returned."""
    if isinstance(mask, torch.Tensor):
        return torch.from_numpy(state).to(mask.device)
    return state
