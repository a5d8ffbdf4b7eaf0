"""The motion-compensated temporal state: a pixel's mask changes only as much as its picture changed.

U2-Net† decides every frame afresh, so where it is unsure a region blinks although the picture did not change
(issue 10: the man's torso in Megamind frames 225-236 vanished in 7 of 12 frames). Each frame:

1. the previous output mask is carried to this frame along the dense optical flow (:mod:`u2live.flow`);
2. per pixel, the model's new answer is taken in proportion to how much the picture changed there after
   following the motion: fully where it changed by ``moving`` gray levels or more, not at all below ``still``;
   but not where it contradicts the model's evidence (below): a moving region the model drops for a frame or
   two is a blink, not news;
3. where the carried mask cannot be trusted (come from outside the frame) the model's answer is taken, and after a
   scene cut everything starts afresh. Occluded or uncovered pixels are not singled out: their picture changed,
   so step 2 takes the model there (the forward-backward check of :mod:`u2live.flow` is left off, see _step);
4. hysteresis: each pixel is committed to a side (person or background) by the model's *evidence*, a running
   average of its answers over ``evidence`` seconds carried along the motion like the mask. Evidence at or above
   ``commit[1]`` commits it to the person, at or below ``commit[0]`` to the background, in between it keeps its
   side: where the model keeps changing its mind the region keeps its last committed state instead of flipping.
   Asymmetric on purpose: a part the model shows is taken within a few frames (a dropped hair bun is the worse
   error), a part it drops is held longer (the torso of frames 225-236);
5. where the model says what the pixel is committed to, the output follows it (on still pixels with time
   constant ``follow``) and never strays more than ``bound`` from it: holding costs at most that; where it says
   the other thing, the carried mask holds (a blink). Steps longer than ``MAX_STEP`` count as that long: one
   answer is one piece of evidence, however late it comes.

Measured in ``benchmarks/temporal.py`` (warping error, still-pixel flicker, fidelity; results in
``benchmarks/results/temporal.md``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .arrays import like, to_host
from .flow import Flow, FlowEstimator, squared_length

#: defaults, tuned on Megamind frames 0-119 only (benchmarks/temporal.py)
STILL = 4.0  # gray levels: a change this small is compression noise, the mask holds
MOVING = 16.0  # gray levels: a change this large is real, the model's answer is taken
FOLLOW = 0.1  # seconds: where the model agrees with the committed side, still pixels follow it this fast
EVIDENCE = 0.15  # seconds: the time constant of the running average of the model's answers
# evidence at or below COMMIT[0] commits a pixel to the background, at or above COMMIT[1] to the person; between
# them it keeps its side. Asymmetric: a part the model shows is taken soon, a part it drops is held longer.
COMMIT = (0.15, 0.5)
BOUND = 0.15  # where the model agrees with the committed side, the output stays this close to it
# One answer of the model is one piece of evidence however long ago the previous one came: the rates were set on
# 24 fps footage, and at 2 fps (tree.avi) a time-only rate would let every answer through almost whole. Longer
# steps count as one 24 fps frame.
MAX_STEP = 1 / 24  # seconds
NOISE_FLOW = 0.5  # working pixels: a flow this small where the picture did not change is noise
FLOW_SIZE = 160  # long side of the flow's working resolution (1/8 of 720p; on Megamind 0-119 as good as 192 and 256)


@dataclass
class Motion:
    """What two consecutive frames alone say, at the flow's working resolution: how the pixels moved (``flow``; its
    sub-pixel noise where the picture did not change is zeroed), the share of the model's answer to take at each
    pixel (``take``, [h, w] float32) and the pixels that came from outside the frame (``fresh``, [h, w] bool)."""
    flow: Flow
    take: np.ndarray
    fresh: np.ndarray


class MotionSmoother:
    """Explicit temporal state: ``update(mask, pts, image=frame)`` returns the held mask; ``reset()`` forgets.

    ``mask`` is the model's [S, S] float mask in [0, 1] for ``image`` ([H, W, 3] uint8 RGB, numpy or torch) at
    ``pts`` seconds; the result has the mask's shape and device, float32. Without an image, after a pts that does
    not move forward (seek, loop), a change of size, or a scene cut, it starts afresh from the model's mask.
    The mask stays at its own resolution; everything that decides how much of the model to take per pixel (the
    picture's change, validity, the evidence) lives at the flow's working resolution, which is what keeps it cheap.
    """

    def __init__(self, *, still: float = STILL, moving: float = MOVING, follow: float = FOLLOW,
                 evidence: float = EVIDENCE, commit: tuple[float, float] = COMMIT, bound: float = BOUND,
                 flow_size: int = FLOW_SIZE):
        if not 0 <= still < moving or follow <= 0 or evidence <= 0 or not 0 <= commit[0] < commit[1] <= 1:
            raise ValueError(f"bad temporal settings: still={still}, moving={moving}, follow={follow}, "
                             f"evidence={evidence}, commit={commit}")
        self.still, self.moving, self.follow = float(still), float(moving), float(follow)
        self.evidence, self.commit = float(evidence), (float(commit[0]), float(commit[1]))
        self.bound = float(bound)
        self.flow = FlowEstimator(flow_size)
        # the share of the model's answer to take, per gray level of change (a lookup is cheaper than the formula)
        self._take_by_change = _smoothstep(self.still, self.moving, np.arange(256, dtype=np.float32))
        self.reset()

    def reset(self) -> None:
        self.output: np.ndarray | None = None  # [S, S] float32, the last output
        self.belief: np.ndarray | None = None  # [h, w] float32, the running average of the model's answers
        self.side: np.ndarray | None = None  # [h, w] float32 0/1, the side each pixel is committed to
        self.gray: np.ndarray | None = None  # [h, w] uint8, the last frame prepared for the flow
        self.pts: float | None = None

    def update(self, mask, pts: float, image=None, flow: Flow | None = None):
        """The held mask for this frame (see the class docstring). ``flow``: the motion from the last update's frame
        to this one, already computed (the live carrier's, at its own resolution), taken instead of a flow here."""
        model = to_host(mask)
        gray = None if image is None else self.flow.prepare(image)
        # bilinear: 6x cheaper than area averaging at this non-integer ratio, and only the evidence sees it
        small = None if gray is None else cv2.resize(model, gray.shape[::-1], interpolation=cv2.INTER_LINEAR)
        if self._continues(model, gray, float(pts)):
            self._step(model, small, gray, min(float(pts) - self.pts, MAX_STEP), flow)
        else:
            self._start_afresh(model, small)
        self.gray, self.pts = gray, float(pts)
        return like(self.output, mask)  # no copy: each step makes a new state array

    def _continues(self, model: np.ndarray, gray: np.ndarray | None, pts: float) -> bool:
        return (self.output is not None and gray is not None and self.gray is not None and pts > self.pts
                and self.output.shape == model.shape and self.gray.shape == gray.shape)

    def _step(self, model: np.ndarray, small: np.ndarray, gray: np.ndarray, dt: float, given: Flow | None) -> None:
        """Carries the state to this frame and blends in the model; a scene cut starts afresh."""
        motion = self.motion(self.gray, gray, given=given)
        if motion is None:
            self._start_afresh(model, small)
            return
        belief, side = cv2.split(motion.flow.warp(cv2.merge([self.belief, self.side])))  # one remap for both
        belief += np.maximum(motion.fresh, _rate(dt, self.evidence), dtype=np.float32) * (small - belief)
        side = self._commit(side, belief, small, motion.fresh)
        agree = (small >= 0.5) == (side >= 0.5)
        # the model says what the pixel is committed to: follow it (a short average on still pixels, against
        # jitter); it says the other thing: a blink, the carried mask holds until the evidence commits the pixel
        keep = np.where(agree, 1.0 - np.maximum(motion.take, _rate(dt, self.follow)), np.float32(1.0))
        # and where it agrees, the held mask stays within ``bound`` of it: holding never costs more than that
        limit = np.where(agree, np.float32(self.bound), np.float32(1.0))
        fields = motion.flow.resize(cv2.merge([keep, limit]), model.shape)
        self.output = _blend(model, motion.flow.warp(self.output), fields)
        self.belief, self.side = belief, side

    def motion(self, previous_gray: np.ndarray, gray: np.ndarray, flow: FlowEstimator | None = None, *,
               given: Flow | None = None) -> Motion | None:
        """What the two prepared frames alone say (no mask needed: a GPU pipeline computes it ahead, beside the
        model); None at a scene cut. ``flow``: another thread's estimator (DIS is not shared across threads);
        ``given``: the flow between the two frames, already computed at any resolution."""
        # No forward-backward check: on Megamind 0-119 it changed no figure (warping error 0.0070 with, 0.0069
        # without), it costs a second flow, and on foliage (tree.avi) it marks most pixels occluded, which resets
        # their hysteresis every frame. An occluded pixel's picture changes, so the model's answer is taken anyway.
        flow = given.at(gray.shape) if given is not None else (flow or self.flow).flow(previous_gray, gray, check=False)
        if flow.scene_cut:
            return None
        # Where the picture did not change and the flow is sub-pixel, nothing moved: no resampling there, so flow
        # noise does not wear the held mask down (a large flow over a flat area is kept: the aperture problem).
        plain = cv2.blur(cv2.absdiff(gray, previous_gray), (3, 3))
        unchanged = plain < self.still
        flow.backward *= ~(unchanged & (squared_length(flow.backward) < NOISE_FLOW ** 2))[..., None]
        change = cv2.min(flow.change, plain)
        fresh = ~(flow.valid | unchanged)  # came from outside the frame: nothing to carry
        change[fresh] = 255
        take = cv2.LUT(change, self._take_by_change)  # [h, w] float32: the share of the model's answer to take
        return Motion(flow=flow, take=take, fresh=fresh)

    def _start_afresh(self, model: np.ndarray, small: np.ndarray | None) -> None:
        """The model's mask as it is, the evidence its answer, each pixel committed to the side it shows."""
        self.output, self.belief = model.copy(), small
        self.side = None if small is None else _side(small)

    def _commit(self, side: np.ndarray, belief: np.ndarray, small: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        """[h, w] float32 0/1: the side each pixel is committed to (hysteresis on the evidence)."""
        person = side >= 0.5
        person |= belief >= self.commit[1]
        person &= belief > self.commit[0]
        person[fresh] = small[fresh] >= 0.5
        return person.astype(np.float32)

    def __repr__(self) -> str:
        return (f"MotionSmoother(still={self.still:g}, moving={self.moving:g}, follow={self.follow:g}s, "
                f"evidence={self.evidence:g}s, commit={self.commit}, flow at {self.flow.size} px)")


def _blend(model: np.ndarray, carried: np.ndarray, fields: np.ndarray) -> np.ndarray:
    """model + clip(keep * (carried - model), -limit, limit) at the mask's resolution, ``fields`` [S, S, 2] holding
    (keep, limit); OpenCV's vectorised arithmetic, no temporaries beyond two (np.clip took 4x as long)."""
    keep, limit = cv2.split(fields)
    held = cv2.multiply(cv2.subtract(carried, model), keep)
    held = cv2.max(cv2.min(held, limit), cv2.multiply(limit, -1.0))
    return cv2.add(model, held)


def _side(mask: np.ndarray) -> np.ndarray:
    return (mask >= 0.5).astype(np.float32)


def _rate(dt: float, time_constant: float) -> np.float32:
    """The share of the way an exponential average with ``time_constant`` moves in ``dt`` seconds."""
    return np.float32(1.0 - math.exp(-dt / time_constant))


def _smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)

