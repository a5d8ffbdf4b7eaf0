"""The Python API: U2-Net† on still images and whole videos, the model loaded once and reused.

>>> import u2live
>>> model = u2live.load()                      # the bundled U2-Net†, the fastest backend here
>>> mask = model.mask("photo.jpg")             # [H, W] uint8, at the image's own size
>>> cutout = model.cutout("photo.jpg")         # [H, W, 4] uint8 RGBA, straight alpha, true colour
>>> model.box("photo.jpg")["box"]              # [x0, y0, x1, y1] of the salient object (x1, y1 exclusive)
>>> model.video("talk.mp4", "out.mp4", bg="beach.jpg")
>>> u2live.remove("photo.jpg")                 # a one-off cut-out, as ``rembg.remove``

Images are a path, a ``PIL.Image`` or an [H, W, 3] uint8 RGB array; results are numpy arrays
(``PIL.Image.fromarray`` turns them into pictures). Nothing loads on import: the model loads in :func:`load`.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from .closing import Closing
from .errors import InputError
from .options import (DEFAULT_BACKGROUND, DEFAULT_MODE, DEFAULT_SIZE, DEFAULT_SMOOTHING, STILL_MODEL, VIDEO_MODEL,
                      VIDEO_PRECISION)

if TYPE_CHECKING:
    from PIL import Image

    from .backends import Segmenter
    from .stats import PipelineStats

ImageLike = Union[str, "os.PathLike[str]", "Image.Image", np.ndarray]


def load(*, backend: str = "auto", precision: str = "auto", size: int = DEFAULT_SIZE, model: str | None = None,
         weights: str | os.PathLike | None = None, log=None) -> Model:
    """A ready :class:`Model`; the options are the CLI's ``--backend``, ``--precision``, ``--size``, ``--model``
    and ``--weights``, with the CLI's defaults (``model=None``: U2-Net† for still images as ``u2live segment``,
    ``--model auto`` for :meth:`Model.video` as ``u2live video``). ``log`` receives one-line messages (default:
    the ``u2live`` logger: warnings show; ``logging.basicConfig(level="INFO")`` shows the rest)."""
    return Model(backend=backend, precision=precision, size=size, model=model, weights=weights, log=log)


class Model(Closing):
    """U2-Net† loaded once (:func:`load`). Every method may be called any number of times, from one thread at a
    time (calls are serialised by a lock). ``with u2live.load() as model:`` releases it at the end.

    Each method runs what the matching command runs with the same options: still images U2-Net† (``model=None``)
    at the backend's own precision (FP32 on the CPU), as ``u2live segment``; :meth:`video` the network and
    precision of ``u2live video`` (``--model auto``, INT8 on the CPU: ``options.VIDEO_MODEL``,
    ``VIDEO_PRECISION``), loaded on its first call, on the backend already chosen, and kept. An explicit ``model``
    or ``precision`` holds for both."""

    def __init__(self, *, backend: str = "auto", precision: str = "auto", size: int = DEFAULT_SIZE,
                 model: str | None = None, weights: str | os.PathLike | None = None, log=None):
        from . import backends
        from .options import segmenter_options

        check_model_args(backend=backend, precision=precision, size=size, model=model or STILL_MODEL,
                         weights=weights)
        weights = None if weights is None else str(weights)
        options = segmenter_options(weights=weights, model=model or STILL_MODEL, size=size, backend=backend,
                                    precision=precision)
        self.segmenter: Segmenter = backends.create(log=log, **options)
        self._video = segmenter_options(weights=weights, model=model or VIDEO_MODEL, size=size,
                                        backend=self.segmenter.name, precision=precision)
        self._video_segmenter: Segmenter | None = None
        self._model, self._log = options["model"], log
        self._lock = threading.Lock()

    def mask(self, image: ImageLike) -> np.ndarray:
        """[H, W] uint8 saliency mask (0..255) at the image's own size, post-processed as the authors do."""
        with self._lock:
            return mask_of(self.segmenter, as_rgb(image))

    def cutout(self, image: ImageLike, *, bg: str | None = None) -> np.ndarray:
        """The image with its mask as alpha: [H, W, 4] uint8 RGBA, straight alpha (colour not multiplied by it).
        ``bg`` (``color:R,G,B``, ``#RRGGBB``, an image path, ``blur``) composites onto it instead: [H, W, 3]."""
        check_bg(bg, optional=True)
        rgb = as_rgb(image)
        return cutout_of(rgb, self.mask(rgb), bg)

    def box(self, image: ImageLike, *, threshold: float = 0.5, name: str = "") -> dict:
        """The ``--format box`` record: ``{"image", "width", "height", "threshold", "box", "regions"}``."""
        from .salient import box_record

        check_threshold(threshold)
        return box_record(name, self.mask(image), threshold)

    def highlight(self, image: ImageLike, *, threshold: float = 0.5) -> np.ndarray:
        """[H, W, 3] uint8: the salient object emphasised (background dimmed and desaturated, outline and box)."""
        from .salient import highlight

        check_threshold(threshold)
        rgb = as_rgb(image)
        return highlight(rgb, self.mask(rgb), threshold)

    def video(self, input: str | os.PathLike, output: str | os.PathLike | None = None, *, bg: str = DEFAULT_BACKGROUND,
              mode: str = DEFAULT_MODE, smoothing: str = DEFAULT_SMOOTHING, max_frames: int | None = None,
              rtmp: str | None = None, batch: int | None = None, progress: bool = False,
              overwrite: bool = True) -> PipelineStats:
        """Replace the background of every frame of ``input``, as ``u2live video`` does (audio kept), into
        ``output`` and/or ``rtmp``; ``overwrite=False`` refuses an existing output (``--no-overwrite``). Returns
        the run's statistics (frames, FPS, time per stage)."""
        from .backgrounds import parse_background
        from .job import run_job
        from .spec import ModelSpec, RunSpec

        if output is None and rtmp is None:
            raise InputError("nothing to write to: give output and/or rtmp")
        check_video_args(bg=bg, mode=mode, smoothing=smoothing, max_frames=max_frames, batch=batch)
        spec = RunSpec(str(input), model=ModelSpec(**self._video), background=parse_background(bg),
                       mode=mode, smoothing=smoothing, output=None if output is None else Path(output), rtmp=rtmp,
                       overwrite=overwrite, max_frames=max_frames, batch=batch, progress=progress)
        with self._lock:
            return run_job(spec, segmenter=self.video_segmenter())

    def video_segmenter(self) -> Segmenter:
        """The model :meth:`video` runs, as ``u2live video`` would with this model's options: the one loaded when
        that is the same network at the same precision, else one loaded once (INT8 on the CPU, ``--model auto``
        by default)."""
        precision = self._video.get("precision") or VIDEO_PRECISION.get(self.segmenter.name)
        if self._video["model"] == self._model and precision in (None, self.segmenter.precision):
            return self.segmenter
        if self._video_segmenter is None:
            from . import backends

            self._video_segmenter = backends.create(log=self._log, auto_precision=VIDEO_PRECISION, **self._video)
        return self._video_segmenter

    def describe(self) -> str:
        """One line: backend, model, precision, size."""
        return self.segmenter.describe()

    def _close(self) -> None:
        self.segmenter.close()
        if self._video_segmenter is not None:
            self._video_segmenter.close()


def check_model_args(*, backend, precision, size, model, weights) -> None:
    """InputError (one line) for a :func:`load` argument that means nothing, before anything loads."""
    from .backends import backend_choices, check_size
    from .catalog import MODEL_CHOICES
    from .options import PRECISIONS

    for name, value, choices in (("backend", backend, backend_choices()), ("precision", precision, PRECISIONS),
                                 ("model", model, MODEL_CHOICES)):
        if value not in choices:
            raise InputError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    if isinstance(size, bool) or not isinstance(size, int):
        raise InputError(f"size must be a whole number of pixels (a multiple of 32), got {size!r}")
    check_size(size, "u2netp" if model == "auto" else model)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise InputError(f"weights must be a path or None, got {type(weights).__name__}")


def check_video_args(*, bg, mode, smoothing, max_frames, batch) -> None:
    """InputError (one line) for a :meth:`Model.video` argument that means nothing, before any file opens."""
    from .options import MODES

    check_bg(bg)
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not isinstance(smoothing, str):
        raise InputError(f"smoothing must be a string such as 'auto', 'ema', '80ms' or 'none'; got {smoothing!r}")
    for name, value, top in (("max_frames", max_frames, None), ("batch", batch, 64)):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and (not whole or value < 1 or (top is not None and value > top)):
            limit = f"from 1 to {top}" if top else "of at least 1"
            raise InputError(f"{name} must be None or a whole number {limit}; got {value!r}")


def check_bg(bg, *, optional: bool = False) -> None:
    if not isinstance(bg, str) and not (optional and bg is None):
        raise InputError(f"bg must be a string (a colour, 'blur', 'transparent' or an image or video path); "
                         f"got {bg!r}")


def check_threshold(threshold) -> None:
    import math

    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold) \
            or not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be a number from 0 to 1; got {threshold!r}")


_default: Model | None = None
_default_lock = threading.Lock()


def remove(image: ImageLike, *, bg: str | None = None) -> np.ndarray:
    """A cut-out of one image (see :meth:`Model.cutout`) with a default model loaded on first use and kept."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load()
    return _default.cutout(image, bg=bg)


def mask_of(segmenter: Segmenter, image: np.ndarray) -> np.ndarray:
    """[H, W] uint8 mask of an [H, W, 3] uint8 RGB image, resized bilinearly: U2-Net's ``d0`` min-max normalised
    (as the authors' test script does), a person model's probability as it is (stretching a picture without a
    person would turn its faint noise into a mask; ``--model auto`` normalises the U2-Net† masks it picks)."""
    from .catalog import AUTO, PERSON_MODELS
    from .preprocess import normalise_minmax, resize_mask, to_uint8

    mask = segmenter.predict([image])[0]
    if segmenter.model not in (*PERSON_MODELS, AUTO):
        mask = normalise_minmax(mask)
    return to_uint8(resize_mask(mask, *image.shape[:2]))


def cutout_of(image: np.ndarray, mask: np.ndarray, bg: str | None = None) -> np.ndarray:
    """RGBA [H, W, 4] (straight alpha) when ``bg`` is None or ``transparent``, else [H, W, 3] composited."""
    if bg is None or bg.strip().lower() == "transparent":
        return np.dstack([image, mask])
    from .backgrounds import parse_background
    from .compositor import composite

    with parse_background(bg).open(image.shape[1], image.shape[0]) as background:
        return composite(image, background.render(image, mask, 0.0), mask)


def as_rgb(image: ImageLike) -> np.ndarray:
    """[H, W, 3] uint8 RGB from a path, a PIL image or an array ([H, W] gray and [H, W, 4] RGBA accepted)."""
    from .images import FORMAT_NAMES, MAX_PIXELS, OPENED_AS, check_pixels, read_rgb, to_rgb8

    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    if isinstance(image, np.ndarray):
        return _array_rgb(image)
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image, without importing PIL here
        from PIL import ImageOps

        if image.format is not None and image.format not in OPENED_AS:  # a file opened lazily: not decoded yet
            raise InputError(f"the image is {image.format}, not a format u2live reads ({FORMAT_NAMES})")
        check_pixels(*image.size, MAX_PIXELS, "the image")
        return to_rgb8(ImageOps.exif_transpose(image))
    raise InputError(f"expected an image path, a PIL image or a numpy array, got {type(image).__name__}")


def _array_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise InputError(f"expected a uint8 image array, got {array.dtype}")
    if array.ndim in (2, 3) and 0 in array.shape[:2]:
        raise InputError(f"expected an image with pixels, got an empty array of shape {array.shape}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise InputError(f"expected an [H, W, 3] RGB array, got shape {array.shape}")
