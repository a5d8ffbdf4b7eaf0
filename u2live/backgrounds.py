"""What goes behind the subject (``--bg``): an image, a looped video, a colour, the frame's own background blurred,
or nothing (transparent output).

``parse_background(spec)`` validates the option (files are only probed, not loaded) and returns a
:class:`BackgroundSpec`; ``spec.open(width, height, kernels)`` loads what it needs and returns a :class:`Background`
whose ``render(image, alpha, pts)`` gives the background layer, [H, W, 3] uint8 where the frames are (the run's
:mod:`u2live.kernels`), for compositing. What does not change per frame (a fitted image, a colour plane) is built once.
Pictures are always cover-fitted: scaled to fill the frame with their aspect ratio kept, the overflow cropped
evenly from both sides, never stretched.
"""
from __future__ import annotations

import functools
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from .closing import Closing
from .compositor import alpha_uint8
from .console import stderr_line
from .errors import InputError, TooLargeError
from .frame import plausible_rate
from .images import open_image, read_rgb
from .sources.base import open_video
from .refine import shrink

KINDS = ("image", "video", "color", "blur", "transparent")
MAX_BLUR_RADIUS = 500
FALLBACK = 1e-3  # the plain blur's weight where no background is near


@dataclass(frozen=True)
class BackgroundSpec:
    """A validated ``--bg`` value. ``kind`` is one of KINDS; ``path``, ``color`` or ``radius`` as the kind needs
    (``radius`` None: scaled to the frame)."""

    kind: str
    path: Path | None = None
    color: tuple[int, int, int] | None = None
    radius: int | None = None

    @property
    def transparent(self) -> bool:
        return self.kind == "transparent"

    def open(self, width: int, height: int, kernels=None) -> Background:
        """The background for frames of ``width`` x ``height`` handled by ``kernels`` (the CPU's by default)."""
        if kernels is None:
            from .kernels import CPU as kernels
        if self.kind == "image":
            return ImageBackground(self.path, width, height, kernels)
        if self.kind == "video":
            return VideoBackground(self.path, width, height, kernels)
        if self.kind == "blur":
            return BlurBackground(self.radius, kernels)
        # transparent output carries alpha; previews and RGB sinks see the subject over black
        return ColorBackground(self.color or (0, 0, 0), width, height, kernels)


def parse_background(spec: str) -> BackgroundSpec:
    """Validate a ``--bg`` value. Raises :class:`InputError` (one line) for anything unusable."""
    text = spec.strip()
    lower = text.lower()
    if lower == "transparent":
        return BackgroundSpec("transparent")
    if lower == "blur" or lower.startswith("blur:"):
        return BackgroundSpec("blur", radius=_parse_radius(text) if ":" in text else None)
    if lower.startswith("color:") or re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return BackgroundSpec("color", color=_parse_color(text))
    if text.startswith("#") and not Path(text).exists():  # a colour that is not one, rather than a missing file
        raise InputError(f"--bg #RRGGBB expects six hexadecimal digits, got {text!r}")
    return BackgroundSpec(_probe_file(Path(text)), path=Path(text))


def _parse_radius(text: str) -> int:
    value = text.split(":", 1)[1].strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_BLUR_RADIUS:
        raise InputError(f"--bg blur:RADIUS expects a whole number of pixels from 1 to {MAX_BLUR_RADIUS}, "
                         f"got {text!r}")
    return int(value)


def _parse_color(text: str) -> tuple[int, int, int]:
    if text.startswith("#"):
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))
    parts = [p.strip() for p in text.split(":", 1)[1].split(",")]
    if len(parts) != 3 or not all(re.fullmatch(r"\d{1,3}", p) for p in parts) or max(map(int, parts)) > 255:
        raise InputError(f"--bg color:R,G,B expects three whole numbers from 0 to 255, got {text!r}")
    return tuple(int(p) for p in parts)


def _probe_file(path: Path) -> str:
    """"image" or "video" for a readable file; InputError otherwise. Reads headers (and a video's first frame)."""
    if not path.exists():
        raise InputError(f"--bg: {path} does not exist (expected an image or video file, color:R,G,B, #RRGGBB, "
                         "blur, blur:RADIUS or transparent)")
    if not path.is_file():
        raise InputError(f"--bg: {path} is not a file (expected an image or video file)")
    try:
        with open_image(path, name=f"--bg: {path}") as image:  # allowed formats, pixels checked from the header
            if getattr(image, "n_frames", 1) == 1:
                return "image"
    except TooLargeError:
        raise
    except InputError:
        pass
    neither = InputError(f"--bg: {path} is neither an image nor a video that can be read")
    try:
        container = open_video(path)
    except av.FFmpegError:
        raise neither from None
    with container:
        if not container.streams.video:
            raise neither
        try:  # a truncated or damaged video fails here, before any work, not after the first output frames
            next(container.decode(video=0))
        except (StopIteration, av.FFmpegError) as err:
            raise InputError(f"--bg: cannot decode the first frame of {path}: is it truncated or damaged?") from err
    return "video"


def cover_fit(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """(scaled width, scaled height, left, top): scale src to cover dst keeping its aspect ratio, crop centred."""
    scale = max(dst_w / src_w, dst_h / src_h)
    width, height = max(dst_w, math.ceil(src_w * scale - 1e-6)), max(dst_h, math.ceil(src_h * scale - 1e-6))
    return width, height, (width - dst_w) // 2, (height - dst_h) // 2


class Background(Closing, ABC):
    """A background layer. ``render`` is called once per frame, in pts order; ``close`` may be called repeatedly."""

    @abstractmethod
    def render(self, image, alpha, pts: float):
        """[H, W, 3] uint8 frame, [H, W] alpha, pts seconds -> [H, W, 3] uint8 background, where the frame is."""



class ColorBackground(Background):
    """One colour: a whole plane, built once (OpenCV's compositing kernels want whole planes) and rebuilt only if
    the frame size changes."""

    def __init__(self, color, width: int, height: int, kernels):
        self.color, self.kernels = tuple(color), kernels
        self.plane = self._plane(height, width)

    def _plane(self, height: int, width: int):
        return self.kernels.plane(np.full((height, width, 3), self.color, dtype=np.uint8))

    def render(self, image, alpha, pts):
        if self.plane.shape[:2] != image.shape[:2]:
            self.plane = self._plane(*image.shape[:2])
        return self.plane


class ImageBackground(Background):
    """A still picture, read once and cover-fitted to the frame size (refitted only if the frame size changes)."""

    def __init__(self, path: Path, width: int, height: int, kernels):
        self.picture = Image.fromarray(read_rgb(path))
        self.kernels = kernels
        self.plane = self._fit(width, height)

    def _fit(self, width: int, height: int):
        fit_w, fit_h, left, top = cover_fit(*self.picture.size, width, height)
        scaled = self.picture.resize((fit_w, fit_h), Image.Resampling.LANCZOS)
        return self.kernels.plane(np.asarray(scaled)[top:top + height, left:left + width])

    def render(self, image, alpha, pts):
        if self.plane.shape[:2] != image.shape[:2]:
            self.plane = self._fit(image.shape[1], image.shape[0])
        return self.plane


class VideoBackground(Background):
    """A video clip, looped, its time running with the frames' pts. Decoded on demand, holding one decoded frame
    and one fitted frame at a time, so memory stays bounded however long the clip is."""

    def __init__(self, path: Path, width: int, height: int, kernels):
        self.path, self.size, self.kernels = path, (width, height), kernels
        self.container = None
        self._restart()
        self._start = self._last_pts = None

    def _restart(self) -> None:
        self._drop_container()
        self._frames = self._timed_frames()
        self.current = next(self._frames)  # (time in the loop series, av.VideoFrame)
        self.upcoming = next(self._frames)
        self._fitted = self._fitted_for = None

    def _timed_frames(self):
        """(seconds since the clip's first frame, counting every loop, frame), forever."""
        offset = 0.0
        while True:
            count, first, last = 0, 0.0, 0.0
            for frame in self._decode():
                when = frame.time if frame.time is not None else count / self._rate
                first = when if count == 0 else first
                last, count = when - first, count + 1
                yield offset + last, frame
            if count == 0:
                raise InputError(f"--bg: {self.path} has no decodable video frames")
            if offset == 0.0 and count < self._expected - 1:  # first pass; its index promised more
                stderr_line(f"u2live: warning: --bg: {self.path} ended after {count} of its {self._expected} "
                            "frames (truncated?); looping the frames that could be read")
            offset += last + 1.0 / self._rate

    def _decode(self):
        self._drop_container()
        try:
            self.container = open_video(self.path)
            stream = self.container.streams.video[0]
            stream.thread_type = "AUTO"
            self._rate = float(plausible_rate(stream.average_rate, stream.guessed_rate, stream.base_rate))
            self._expected = stream.frames  # from the container's index; 0 where it has none
            yield from self.container.decode(stream)
        except av.FFmpegError as err:
            raise InputError(f"--bg: cannot decode {self.path}: {err.strerror or err}") from err

    def render(self, image, alpha, pts):
        if self._start is None or pts < self._last_pts:  # first frame, or the main stream went back
            if self._start is not None:
                self._restart()
            self._start = pts
        self._last_pts = pts
        elapsed = pts - self._start
        while self.upcoming[0] <= elapsed:
            self.current, self.upcoming = self.upcoming, next(self._frames)
        return self._fit(self.current[1], image.shape[1], image.shape[0])

    def _fit(self, frame: av.VideoFrame, width: int, height: int):
        key = (id(frame), width, height)
        if self._fitted_for != key:
            turns = round((frame.rotation or 0) / 90) % 4  # a phone clip is stored sideways, shown upright
            shown_w, shown_h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
            fit_w, fit_h, left, top = cover_fit(shown_w, shown_h, width, height)
            scaled = frame.to_ndarray(format="rgb24", width=fit_h if turns % 2 else fit_w,
                                      height=fit_w if turns % 2 else fit_h)
            array = np.rot90(scaled, turns)[top:top + height, left:left + width]
            self._fitted = self.kernels.plane(array)
            self._fitted_for = key
        return self._fitted

    def _drop_container(self) -> None:
        """Close the clip's current container (the loop reopens it: a restart, the next pass)."""
        if self.container is not None:
            self.container.close()
            self.container = None

    def _close(self) -> None:
        self._drop_container()


class BlurBackground(Background):
    """The frame's own background, blurred, with the subject cut out *before* blurring (normalised convolution:
    blur(image * w) / blur(w), w = background weight), so the subject's colours do not bleed into a halo.

    The blur runs on a grid ``radius / 4`` times coarser than the frame (a blur this wide keeps nothing finer) as
    three box passes (close to a Gaussian); only the weighting and the final upsampling touch every pixel.
    """

    def __init__(self, radius: int | None, kernels):
        self.radius, self.kernels = radius, kernels

    def render(self, image, alpha, pts):
        radius = self.radius or max(2, round(0.025 * max(image.shape[:2])))
        return self.kernels.blur_background(image, alpha, radius)


def blur_background(image: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """:class:`BlurBackground` in OpenCV: [H, W, 3] uint8 frame, [H, W] alpha (float, or uint8 0-255) -> [H, W, 3]
    uint8 (:func:`u2live.kernels_torch.blur_background` is the same in torch). The weighting runs on a grid twice
    as fine as the blur's, not on every pixel (a cell there mixes edge colours over 1/8 of the blur radius, which
    the eye cannot tell apart after the blur), and the result is upsampled as uint8."""
    height, width = image.shape[:2]
    factor = max(1, radius // 4)
    low = (math.ceil(width / factor), math.ceil(height / factor))
    alpha = alpha_uint8(alpha)
    if factor >= 4:
        fine = (math.ceil(width / (factor // 2)), math.ceil(height / (factor // 2)))
        image, alpha = shrink(image, fine), shrink(alpha, fine)
    # squared (a half-covered edge pixel counts a quarter): ((255 - a8) / 255)^2
    weight = cv2.multiply(cv2.bitwise_not(alpha), cv2.bitwise_not(alpha), scale=1 / 255 ** 2, dtype=cv2.CV_32F)
    weighted = cv2.multiply(image, cv2.cvtColor(weight, cv2.COLOR_GRAY2RGB), dtype=cv2.CV_32F)
    colour, cover, plain = shrink(weighted, low), shrink(weight, low), shrink(image, low).astype(np.float32)
    trust = cv2.erode(cover, np.ones((3, 3), np.uint8))  # borders count as fully covered, like -max_pool(-x)
    layers = np.dstack([colour * trust[..., None], cover * trust, plain])  # [h', w', 7]
    window = (2 * max(1, max(1, round(radius / factor)) // 2) + 1,) * 2  # as _blur: three box passes
    for _ in range(3):  # window sums; the clipped windows' pixel counts are divided out once, below
        layers = cv2.boxFilter(layers, -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT)
    counts = _triple_box_counts(layers.shape[0], layers.shape[1], window)
    # (colour + F plain) / (cover + F) with every layer a mean: the counts cancel except against F
    blurred = (layers[..., :3] + FALLBACK * layers[..., 4:]) / (layers[..., 3:4] + FALLBACK * counts[..., None])
    small = cv2.convertScaleAbs(blurred)  # rounded; never negative
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


@functools.lru_cache(maxsize=8)
def _triple_box_counts(height: int, width: int, window: tuple[int, int]) -> np.ndarray:
    """Three passes of window sums over ones: what each layer's sums count, [height, width] float32."""
    ones = np.ones((height, width), np.float32)
    for _ in range(3):
        ones = cv2.boxFilter(ones, -1, window, normalize=False, borderType=cv2.BORDER_CONSTANT)
    return ones

