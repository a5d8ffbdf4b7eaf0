"""``--model auto``: the person model where a person is in the picture, U2-Net† where none is.

U2-Net† finds what stands out, not who is there: on a call it keeps a candle and drops the speaker's shoulders.
The person model (:mod:`u2live.selfie_model`) runs on every frame (it is small: a few ms of one core) and says
whether a person is there; its mask is the answer while one is, and U2-Net†'s mask (exactly what ``--model
u2netp`` gives) while none is, so a clip of a product on a turntable still gets its salient object.

The choice holds across frames (:class:`PresenceGate`): it starts from the first frame's answer, turns to the
person model only after a person has been seen in ``ENTER_FRAMES`` frames in a row and back only after
``LEAVE_FRAMES`` frames without one, so a mask never flips between the two networks from one frame to the next.
Each turn is one stderr line. Still images (:meth:`PersonAwareSegmenter.predict`) are each decided alone.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .backends.base import Segmenter
from .catalog import PERSON_MODELS
from .errors import BackendError
from .preprocess import normalise_minmax

#: a person is in the picture when the person model's mask covers at least this share of it (at 0.5): a face at
#: the far end of a room covers ~0.5%, a head and shoulders on a call 15-40%
PRESENT_SHARE = 0.01
#: a person counts as gone below this share (hysteresis: a hand-sized flicker of the mask keeps the decision)
ABSENT_SHARE = 0.003
ENTER_FRAMES = 3
LEAVE_FRAMES = 24  # about a second of video
PERSON_MODEL = PERSON_MODELS[0]  # bundled; u2net_human_seg is 176 MB that users bring


def person_share(masks) -> list[float]:
    """The share of each [S, S] mask (numpy or torch, in [0, 1]) above 0.5."""
    return [float((mask > 0.5).float().mean()) if hasattr(mask, "float") else float((mask > 0.5).mean())
            for mask in masks]


class PresenceGate:
    """Whether the person model's answer is the one to use, decided with hysteresis over consecutive frames.

    ``update(share)`` takes one frame's :func:`person_share` and returns True (use the person model) or False;
    ``reason`` says why the last turn happened (for the stderr line), ``turned`` whether this frame turned."""

    def __init__(self, *, enter_frames: int = ENTER_FRAMES, leave_frames: int = LEAVE_FRAMES):
        self.enter_frames, self.leave_frames = enter_frames, leave_frames
        self.person: bool | None = None  # undecided until the first frame
        self.turned = False
        self.reason = ""
        self._run = 0  # frames in a row that disagree with the current decision

    def update(self, share: float) -> bool:
        self.turned = False
        if self.person is None:
            self.person = share >= PRESENT_SHARE
            self.reason = f"{'a person' if self.person else 'no person'} in the first frame ({100 * share:.1f}%)"
            self.turned = True
            return self.person
        disagrees = share < ABSENT_SHARE if self.person else share >= PRESENT_SHARE
        self._run = self._run + 1 if disagrees else 0
        if self._run >= (self.leave_frames if self.person else self.enter_frames):
            self.person, self._run, self.turned = not self.person, 0, True
            self.reason = (f"a person in {self.enter_frames} frames in a row" if self.person
                           else f"no person for {self.leave_frames} frames")
        return self.person


class PersonAwareSegmenter(Segmenter):
    """Two segmenters on one backend: ``person`` (the person model) on every frame, ``salient`` (U2-Net†) where no
    person is. Takes ownership of both. ``name``, ``device`` and ``precision`` are the salient segmenter's, ``size``
    is its size (what ``--size`` sets; the person model runs at the size it was trained at)."""

    def __init__(self, person: Segmenter, salient: Segmenter, *, log=None):
        self.person_segmenter, self.salient = person, salient
        self.name, self.device = salient.name, salient.device
        super().__init__(model=salient.model, size=salient.size, precision=salient.precision, log=log or salient.log)
        self.model = "auto"
        self.gate = PresenceGate()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        raise BackendError("--model auto runs two networks with their own preprocessing: call predict or "
                           "predict_frames (or bench --model selfie and --model u2netp apart)")

    def infer_tensor(self, batch):
        return self.infer(batch)

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Still images, each decided alone: the person model's mask where it finds a person, else U2-Net†'s,
        min-max normalised as the authors' test script does (the person model's is a probability already).
        [N, S, S] when the masks share a size (always for one image), else a list of [S, S] masks."""
        people = self.person_segmenter.predict(images)
        masks = [mask if share >= PRESENT_SHARE else normalise_minmax(self.salient.predict([image]))[0]
                 for image, mask, share in zip(images, people, person_share(people))]
        return np.stack(masks) if len({m.shape for m in masks}) == 1 else masks

    def predict_frames(self, images, stats=None):
        """[N, H, W, 3] uint8 frames of one video, in order -> [N, S, S] masks, the networks chosen by the gate."""
        import torch

        people = self.person_segmenter.predict_frames(images, stats)
        use_person = [self._decide(share) for share in person_share(people)]
        if all(use_person):
            return people
        salient = self.salient.predict_frames(images, stats)
        if not any(use_person):
            return salient
        # a turn inside this batch: one network's size for the whole batch (the salient one's)
        resized = torch.nn.functional.interpolate(people[:, None], size=salient.shape[-2:], mode="bilinear",
                                                  align_corners=False)[:, 0]
        pick = torch.tensor(use_person, device=salient.device)[:, None, None]
        return torch.where(pick, resized, salient)

    def _decide(self, share: float) -> bool:
        person = self.gate.update(share)
        if self.gate.turned:
            which = (f"{self.person_segmenter.model} (the person model)" if person
                     else f"{self.salient.model} (salient objects)")
            self.log(f"u2live: --model auto -> {which}: {self.gate.reason}")
        return person

    def describe(self) -> str:
        return f"auto: {self.person_segmenter.describe()} where a person is, else {self.salient.describe()}"

    def _close(self) -> None:
        try:
            self.person_segmenter.close()
        finally:
            self.salient.close()


def create_auto(make, *, size: int | None = None, precision: str | None = None, log=None,
                **options) -> PersonAwareSegmenter:
    """``--model auto`` on one backend; ``make(**options)`` is :func:`u2live.backends.create` for the chosen
    backend. ``size``, ``precision`` and ``weights`` are U2-Net†'s; the person model runs at the size it was
    trained at, in FP32 on the CPU backend (a few ms a frame already; INT8 would save little of it) and at the
    backend's default precision elsewhere."""
    options.pop("model", None)
    salient = make(model="u2netp", size=size, precision=precision, **options)
    try:
        options.pop("weights", None)
        options["backend"] = salient.name  # the backend auto picked for the first
        person = make(model=PERSON_MODEL, precision="fp32" if salient.name == "cpu" else None, **options)
    except BaseException:
        salient.close()
        raise
    return PersonAwareSegmenter(person, salient, log=log)
