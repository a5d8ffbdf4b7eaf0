"""``--model auto``: the person model where a person is in the picture, U2-Net† where none is.

U2-Net† finds what stands out, not who is there: on a call it keeps a candle and drops the speaker's shoulders.
Whether a person is there is a face (MediaPipe's BlazeFace, :mod:`u2live.face_detect`) on the person model's
mask: the person model's mask alone cannot tell, since it marks animals and large objects as person too (a meerkat
56% of its picture, a horse 17%), and a face alone can be a poster. The person model (:mod:`u2live.selfie_model`,
a few ms of one core) runs on every frame; the face detector on one frame in ``FACE_EVERY``. The person model's
mask is the answer while a person is there. A look that finds no face searches for standing people too small for
one (:mod:`u2live.walkers`: HOG's proposals, the person model on a crop around each, followed between looks); their
crops' masks are the answer while they are there. U2-Net†'s mask (exactly what ``--model u2netp`` gives) is the
answer while nobody is, so a clip of a product on a turntable still gets its salient object.

The choice holds across frames (:class:`PresenceGate`): it starts from the first frame's answer, turns to a nearer
answer (a person, nearer than standing people, nearer than nobody) only after ``ENTER_FRAMES`` looks in a row give
it and to a farther one only after ``LEAVE_FRAMES``, so a mask never flips between answers from one frame to the next. A
face lets a person in; the person model's mask keeps them (``STAY_SHARE``) when they turn away from the camera.
Each turn is one stderr line. Still images (:meth:`PersonAwareSegmenter.predict`) are each decided alone.

Under ``webcam --size auto`` the size ladder is U2-Net†'s (what ``--size`` sets): a move changes U2-Net† alone
(:meth:`PersonAwareSegmenter.resize`); the person model, the face detector and the gate's decision stay. The
governor learns only from masks U2-Net† made (:attr:`PersonAwareSegmenter.ran_at_size`): while the person model
answers alone, U2-Net†'s size costs nothing and its rate is not measured.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .arrays import is_numpy, like, to_host
from .backends.base import Segmenter, timed_stage
from .catalog import PERSON_MODELS
from .errors import BackendError
from .preprocess import normalise_minmax
from .walkers import WalkerTracker, detector_available, find_walkers, paste

#: looks (face detections) in a row that turn the decision: in, after a person is seen in ENTER_FRAMES looks; out,
#: after none is seen in LEAVE_FRAMES looks (about a second of video at one look in FACE_EVERY frames)
ENTER_FRAMES = 2
LEAVE_FRAMES = 6
#: one look for a face in this many frames of a video: a person does not come and go faster than that, and the
#: detector's few ms are then spread over the frames between
FACE_EVERY = 5
#: the side a frame is shrunk to before the face detector letterboxes it to its own 192x192
FACE_SIDE = 384
#: once a person is there, they stay while the person model's mask covers this share of the picture, face or not:
#: someone who turns away from the camera, or bends down, is still someone (and a face first let them in)
STAY_SHARE = 0.02
PERSON_MODEL = PERSON_MODELS[0]  # bundled; u2net_human_seg is 176 MB that users bring


def faces_on_person(faces, mask: np.ndarray, height: int, width: int) -> int:
    """How many of ``faces`` ((x0, y0, x1, y1, score) in an ``height`` x ``width`` picture) have the person model's
    ``mask`` ([S, S] in [0, 1], the whole picture) above 0.5 at their centre."""
    size_y, size_x = mask.shape
    count = 0
    for x0, y0, x1, y1, _ in faces:
        cx = min(max(int((x0 + x1) / 2 * size_x / width), 0), size_x - 1)
        cy = min(max(int((y0 + y1) / 2 * size_y / height), 0), size_y - 1)
        count += bool(mask[cy, cx] > 0.5)
    return count


#: what a look sees, nearest first: a person facing the camera (the person model on the whole picture), standing
#: people too small for a face (the person model on a crop around each, :mod:`u2live.walkers`), nobody (U2-Net†)
PERSON, WALKERS, NOBODY = "person", "walkers", "nobody"
NEARNESS = {NOBODY: 0, WALKERS: 1, PERSON: 2}


class PresenceGate:
    """Which answer to use (PERSON, WALKERS or NOBODY), decided with hysteresis over consecutive looks.

    ``update(seen)`` takes one look's answer and returns the decision: a nearer answer (NEARNESS) takes over after
    ``enter_frames`` looks in a row that give it, a farther one after ``leave_frames``: someone who appears is cut
    out soon, someone the detector misses for a moment is not dropped. ``reason`` says why the last turn happened
    (for the stderr line), ``turned`` whether this look turned."""

    def __init__(self, *, enter_frames: int = ENTER_FRAMES, leave_frames: int = LEAVE_FRAMES):
        self.enter_frames, self.leave_frames = enter_frames, leave_frames
        self.state: str | None = None  # undecided until the first look
        self.turned = False
        self.reason = ""
        self._candidate, self._run = None, 0  # the answer of the last looks that disagree, and how many in a row

    def update(self, seen: str) -> str:
        self.turned = False
        if self.state is None:
            self.state, self.turned = seen, True
            self.reason = f"{DESCRIBE[seen]} in the first frame"
            return self.state
        if seen == self.state:
            self._candidate, self._run = None, 0
            return self.state
        self._run = self._run + 1 if seen == self._candidate else 1
        self._candidate = seen
        nearer = NEARNESS[seen] > NEARNESS[self.state]
        needed = self.enter_frames if nearer else self.leave_frames
        if self._run >= needed:
            self.state, self.turned = seen, True
            self._candidate, self._run = None, 0
            self.reason = f"{DESCRIBE[seen]} in {needed} looks in a row"
        return self.state


DESCRIBE = {PERSON: "a person", WALKERS: "standing people and no face", NOBODY: "no person"}


class PersonAwareSegmenter(Segmenter):
    """Two segmenters on one backend: ``person`` (the person model) on every frame, ``salient`` (U2-Net†) where no
    person is. Takes ownership of both. ``name``, ``device`` and ``precision`` are the salient segmenter's, ``size``
    is its size (what ``--size`` sets; the person model runs at the size it was trained at). ``remake(size,
    precision)`` loads U2-Net† at another size (:meth:`resize`, for ``--size auto``)."""

    def __init__(self, person: Segmenter, salient: Segmenter, *, log=None, remake=None, walkers: bool = True):
        self.person_segmenter, self.salient, self.remake = person, salient, remake
        #: whether U2-Net† (the network ``size`` sizes) made any of the last predict_frames call's masks
        self.ran_at_size = False
        self.name, self.device = salient.name, salient.device
        super().__init__(model=salient.model, size=salient.size, precision=salient.precision, log=log or salient.log)
        self.model = "auto"
        self.gate = PresenceGate()
        self.frame = 0  # frames seen by predict_frames: one in FACE_EVERY gets a look for a face
        #: standing people where no face is (None: U2-Net† wherever no face is, the benchmark's faces-only row)
        self.walkers = WalkerTracker(person.predict) if walkers and detector_available() else None
        if walkers and self.walkers is None:
            self.log(f"u2live: warning: OpenCV {cv2.__version__} has no HOG people detector: --model auto will not "
                     "search for people too small for a face (pip install 'opencv-python-headless<5')")
        from .face_detect import FaceDetector

        self.faces = FaceDetector(log=self.log)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        raise BackendError("--model auto runs two networks with their own preprocessing: call predict or "
                           "predict_frames (or bench --model selfie and --model u2netp apart)")

    def infer_tensor(self, batch):
        return self.infer(batch)

    def person_in(self, image: np.ndarray, mask: np.ndarray) -> bool:
        """A face on the person model's ``mask`` of ``image`` ([H, W, 3] uint8, shrunk to FACE_SIDE first)."""
        height, width = image.shape[:2]
        scale = min(1.0, FACE_SIDE / max(height, width))
        small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1.0 else image
        faces = self.faces.detect(small)
        return faces_on_person(faces, mask, *small.shape[:2]) > 0

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Still images, each decided alone: the person model's mask where a face is on it, else the standing people
        a search finds, else U2-Net†'s mask min-max normalised as the authors' test script does (the person model's
        is a probability already). [N, S, S] when the masks share a size (always for one image), else a list."""
        people = self.person_segmenter.predict(images)
        masks = [self._still(image, mask) for image, mask in zip(images, people)]
        return np.stack(masks) if len({m.shape for m in masks}) == 1 else masks

    def _still(self, image: np.ndarray, person: np.ndarray) -> np.ndarray:
        if self.person_in(image, person):
            return person
        walkers = find_walkers(image, self.person_segmenter.predict) if self.walkers is not None else []
        if walkers:
            return paste(image.shape[:2], walkers, person.shape[-1])
        return normalise_minmax(self.salient.predict([image]))[0]

    def predict_frames(self, images, stats=None):
        """[N, H, W, 3] uint8 frames of one video, in order -> [N, S, S] masks, the answer chosen by the gate for
        each (numpy frames give numpy masks, tensors on a GPU tensors there)."""
        people = self.person_segmenter.predict_frames(images, stats)
        looks = [i for i in range(len(images)) if (self.frame + i) % FACE_EVERY == 0]  # frames that get a look
        with timed_stage(stats, "presence"):  # what the looks need comes down together: one wait on a GPU
            masks = dict(zip(looks, to_host(people[looks]))) if looks else {}
            pictures = dict(zip(looks, _small_rgbs(images[looks]))) if looks else {}
        states, walker_masks = [], {}
        for i in range(len(images)):
            frame = _Frame(images, i)
            if self.walkers is not None and self.walkers.walkers:
                with timed_stage(stats, "walkers"):
                    self.walkers.follow(frame.rgb())
            if i in masks:
                with timed_stage(stats, "presence"):
                    self._decide(self._look(pictures[i], masks[i], frame))
            self.frame += 1
            states.append(self.gate.state)
            if self.gate.state == WALKERS:
                walker_masks[i] = self.walkers.mask(images.shape[1:3], people.shape[-1])
        self.ran_at_size = NOBODY in states
        salient = self.salient.predict_frames(images, stats) if self.ran_at_size else None
        return _mixed(states, people, walker_masks, salient)

    def _look(self, picture: np.ndarray, person: np.ndarray, frame: _Frame) -> str:
        """What one look sees: the person model's mask ``person`` of ``frame``, ``picture`` that frame shrunk."""
        staying = self.gate.state == PERSON and float((person > 0.5).mean()) >= STAY_SHARE
        if staying or self.person_in(picture, person):
            return PERSON
        if self.walkers is None:
            return NOBODY
        self.walkers.search(frame.rgb())
        return WALKERS if self.walkers.walkers else NOBODY

    def _decide(self, seen: str) -> None:
        state = self.gate.update(seen)
        if state == PERSON and self.walkers is not None:
            # the whole picture's mask has them now; following crops would cost for nothing. Not before the turn:
            # until then the walkers' masks are the answer
            self.walkers.clear()
        if self.gate.turned:
            which = {PERSON: f"{self.person_segmenter.model} (the person model)",
                     WALKERS: f"{self.person_segmenter.model} on a crop around each standing person",
                     NOBODY: f"{self.salient.model} (salient objects)"}[state]
            self.log(f"u2live: --model auto -> {which}: {self.gate.reason}")

    def resize(self, size: int, precision: str) -> None:
        """U2-Net† at ``size`` and ``precision`` from the next frame (a ``--size auto`` move), loaded before the old
        one is closed; the person model, the face detector and the gate's decision stay as they are."""
        if self.remake is None:
            raise BackendError("this --model auto segmenter cannot change U2-Net†'s size")
        new = self.remake(size, precision)
        old, self.salient = self.salient, new
        self.size, self.precision = new.size, new.precision
        old.close()

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
        weights = options.pop("weights", None)
        options["backend"] = salient.name  # the backend auto picked for the first
        person = make(model=PERSON_MODEL, precision="fp32" if salient.name == "cpu" else None, **options)
    except BaseException:
        salient.close()
        raise

    def remake(size: int, precision: str) -> Segmenter:  # U2-Net† alone, on the same backend
        return make(model="u2netp", size=size, precision=precision, weights=weights, **options)

    return PersonAwareSegmenter(person, salient, log=log, remake=remake)


class _Frame:
    """Frame ``i`` of a batch, brought to the host as a numpy RGB picture once, when first asked for (the walkers'
    crops are cut on the host)."""

    def __init__(self, images, i: int):
        self.images, self.i, self._rgb = images, i, None

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self.images[self.i] if is_numpy(self.images) else to_host(self.images[self.i], np.uint8)
        return self._rgb


def _mixed(states: list[str], people, walker_masks: dict, salient):
    """Each frame's mask from the answer its state chose: ``people`` (the person model's, [N, S, S] where the frames
    are), ``walker_masks`` (frame index -> [S, S] numpy), ``salient`` (U2-Net†'s [N, S', S'], None where it did not
    run). One answer for the whole batch is returned as it is; a mix comes together on the host at one size, the
    salient one's where U2-Net† ran (a turn inside a batch: rare)."""
    if all(state == PERSON for state in states):
        return people
    if all(state == NOBODY for state in states):
        return salient
    if all(state == WALKERS for state in states):
        return like(np.stack([walker_masks[i] for i in range(len(states))]), people)
    reference = salient if salient is not None else people
    size = tuple(reference.shape[-1:-3:-1])  # (width, height)
    host_people = to_host(people)
    chosen = [to_host(salient[i]) if state == NOBODY else walker_masks[i] if state == WALKERS else host_people[i]
              for i, state in enumerate(states)]
    return like(np.stack([m if m.shape[::-1] == size else cv2.resize(m, size, interpolation=cv2.INTER_LINEAR)
                          for m in chosen]), reference)


def _small_rgbs(images) -> list[np.ndarray]:
    """[n, H, W, 3] uint8 frames -> numpy: as they are (:meth:`person_in` shrinks them with OpenCV), and from a GPU
    shrunk there to FACE_SIDE first, so that they come down small."""
    if is_numpy(images):
        return list(images)
    import torch.nn.functional as F

    height, width = images.shape[1:3]
    scale = FACE_SIDE / max(height, width)
    if scale < 1.0:
        size = (round(height * scale), round(width * scale))
        images = F.interpolate(images.permute(0, 3, 1, 2).float(), size=size, mode="area")
        images = images.round().clamp(0, 255).byte().permute(0, 2, 3, 1)
    return list(to_host(images, np.uint8))
