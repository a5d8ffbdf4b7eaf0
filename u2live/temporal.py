"""The motion-compensated temporal state: a pixel's mask changes only as much as its picture changed.

U2-Net† decides every frame afresh, so where it is unsure a region blinks although the picture did not change
(issue 10: the man's torso in Megamind frames 225-236 vanished in 6 of 12 frames). Each frame:

1. the previous output mask is carried to this frame along the dense optical flow (:mod:`u2live.flow`);
2. per pixel, the model's new answer is taken in proportion to how much the picture changed there after
   following the motion: fully where it changed by ``moving`` gray levels or more, not at all below ``still``;
3. where the carried mask cannot be trusted (occluded or uncovered: the forward-backward check; come from outside
   the frame) the model's answer is taken, and after a scene cut everything starts afresh;
4. where the picture holds still the state still drifts, with time constant ``hold`` (by pts), towards the
   model's *evidence*: a running average of its answers over ``evidence`` seconds, carried along the motion like
   the mask, so a lasting change of the model's mind gets through. Only where that evidence is sure (below
   ``unsure[0]`` or above ``unsure[1]``): where the model keeps changing its mind it averages out to unsure and
   the region keeps its last confident state instead of flipping (hysteresis).

Measured in ``benchmarks/temporal.py`` (warping error, still-pixel flicker, fidelity; results in
``benchmarks/results/temporal.md``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .flow import FlowEstimator

#: defaults, tuned on Megamind frames 0-119 only (benchmarks/temporal.py)
STILL = 4.0  # gray levels: a change this small is compression noise, the mask holds
MOVING = 16.0  # gray levels: a change this large is real, the model's answer is taken
HOLD = 1.0  # seconds: where the picture is still, the time constant of the drift towards sure evidence
EVIDENCE = 0.25  # seconds: the time constant of the running average of the model's answers
UNSURE = (0.2, 0.8)  # evidence between these does not move a still pixel
FLOW_SIZE = 256  # long side of the flow's working resolution (a fifth of 720p: ~1 ms for both directions)


class MotionSmoother:
    """Explicit temporal state: ``update(mask, pts, image=frame)`` returns the held mask; ``reset()`` forgets.

    ``mask`` is the model's [S, S] float mask in [0, 1] for ``image`` ([H, W, 3] uint8 RGB, numpy or torch) at
    ``pts`` seconds; the result has the mask's shape and device, float32. Without an image, after a pts that does
    not move forward (seek, loop), a change of size, or a scene cut, it starts afresh from the model's mask.
    """

    def __init__(self, *, still: float = STILL, moving: float = MOVING, hold: float = HOLD,
                 evidence: float = EVIDENCE, unsure: tuple[float, float] = UNSURE, flow_size: int = FLOW_SIZE):
        if not 0 <= still < moving or hold <= 0 or evidence <= 0 or not 0 <= unsure[0] <= unsure[1] <= 1:
            raise ValueError(f"bad temporal settings: still={still}, moving={moving}, hold={hold}, "
                             f"evidence={evidence}, unsure={unsure}")
        self.still, self.moving, self.hold, self.evidence = float(still), float(moving), float(hold), float(evidence)
        self.unsure = (float(unsure[0]), float(unsure[1]))
        self.flow = FlowEstimator(flow_size)
        self.reset()

    def reset(self) -> None:
        self.state: np.ndarray | None = None  # [S, S, 2] float32: the last output, the model's evidence
        self.gray: np.ndarray | None = None  # the last frame, prepared for the flow
        self.pts: float | None = None

    def update(self, mask, pts: float, image=None):
        """The held mask for this frame (see the class docstring)."""
        model = _numpy(mask)
        gray = None if image is None else self.flow.prepare(image)
        carried = self._carry(model, gray, float(pts))
        if carried is None:
            self.state = np.stack([model, model], axis=-1)
        else:
            self.state = self._blend(*carried, model, float(pts) - self.pts)
        self.gray, self.pts = gray, float(pts)
        return _like(self.state[..., 0], mask)

    def _carry(self, model: np.ndarray, gray: np.ndarray | None, pts: float):
        """(the last output carried to this frame, how much of the model to take per pixel) [S, S] float32 each;
        None when the past does not apply (start afresh)."""
        if (self.state is None or gray is None or self.gray is None or pts <= self.pts
                or self.state.shape[:2] != model.shape or self.gray.shape != gray.shape):
            return None
        flow = self.flow.flow(self.gray, gray)
        if flow.scene_cut:
            return None
        carried = flow.warp(self.state)  # [S, S, 2]: output and evidence in one remap
        change = flow.resize(flow.change, model.shape)
        take = _smoothstep(self.still, self.moving, change)
        take[~flow.resize(flow.valid, model.shape)] = 1.0
        return carried, take

    def _blend(self, carried: np.ndarray, take: np.ndarray, model: np.ndarray, dt: float) -> np.ndarray:
        """[S, S, 2] new (output, evidence) from the carried ones, the model's mask and the time step."""
        output, evidence = carried[..., 0], carried[..., 1]
        evidence += np.maximum(take, _rate(dt, self.evidence)) * (model - evidence)
        sure = (evidence <= self.unsure[0]) | (evidence >= self.unsure[1])
        # where the picture changed: the model's answer; where it is still: a slow drift towards sure evidence
        output += take * (model - output)
        output += (_rate(dt, self.hold) * (1.0 - take) * sure) * (evidence - output)
        return carried

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
    """``state`` as the caller's type: a fresh torch tensor on the mask's device, or a numpy copy."""
    if isinstance(mask, torch.Tensor):
        return torch.from_numpy(state.copy()).to(mask.device)
    return state.copy()
