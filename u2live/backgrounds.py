"""What goes behind the subject (``--bg``): an image, a looped video, a colour, the frame's own background blurred,
or nothing (transparent output).

``parse_background(spec)`` validates the option (files are only probed, not loaded) and returns a
:class:`BackgroundSpec`; ``spec.open(width, height, device)`` loads what it needs and returns a :class:`Background`
whose ``render(image, alpha, pts)`` gives the background layer, [H, W, 3] uint8 on the device, for
:func:`u2live.compositor.composite`. What does not change per frame (a fitted image, a colour plane) is built once.
Pictures are always cover-fitted: scaled to fill the frame with their aspect ratio kept, the overflow cropped
evenly from both sides, never stretched.
"""
from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .closing import Closing
from .errors import InputError
from .images import read_rgb
from .refine import box_filter

BACKGROUND_HELP = (
    "Background behind the subject: an image file (cover-fitted, never stretched), a video file (looped), "
    "color:R,G,B or #RRGGBB, blur (the frame's own background blurred; blur:RADIUS in pixels, default 2.5% of "
    "the frame's longer side), or transparent (writes alpha: .mov ProRes 4444, .webm VP9, or a PNG sequence).")
KINDS = ("image", "video", "color", "blur", "transparent")
MAX_BLUR_RADIUS = 500


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

    def open(self, width: int, height: int, device: torch.device | str = "cpu") -> Background:
        device = torch.device(device)
        if self.kind == "image":
            return ImageBackground(self.path, width, height, device)
        if self.kind == "video":
            return VideoBackground(self.path, width, height, device)
        if self.kind == "blur":
            return BlurBackground(self.radius)
        # transparent output carries alpha; previews and RGB sinks see the subject over black
        return ColorBackground(self.color or (0, 0, 0), width, height, device)


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
        with Image.open(path) as image:
            if getattr(image, "n_frames", 1) == 1:
                return "image"
    except (UnidentifiedImageError, OSError):
        pass
    neither = InputError(f"--bg: {path} is neither an image nor a video that can be read")
    try:
        container = av.open(f"file:{path.absolute()}")  # file: so that names with ':' are not protocols
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
    def render(self, image: torch.Tensor, alpha: torch.Tensor, pts: float) -> torch.Tensor:
        """[H, W, 3] uint8 frame, [H, W] float alpha, pts seconds -> [H, W, 3] uint8 background on their device."""



class ColorBackground(Background):
    def __init__(self, color, width: int, height: int, device: torch.device):
        self.color = torch.tensor(color, dtype=torch.uint8, device=device)
        self.plane = self.color.expand(height, width, 3)  # a view: no per-frame work, no full-size copy

    def render(self, image, alpha, pts):
        if self.plane.shape[:2] != image.shape[:2] or self.plane.device != image.device:
            self.plane = self.color.to(image.device).expand(*image.shape[:2], 3)
        return self.plane


class ImageBackground(Background):
    """A still picture, read once and cover-fitted to the frame size (refitted only if the frame size changes)."""

    def __init__(self, path: Path, width: int, height: int, device: torch.device):
        self.picture = Image.fromarray(read_rgb(path))
        self.plane = self._fit(width, height, device)

    def _fit(self, width: int, height: int, device: torch.device) -> torch.Tensor:
        fit_w, fit_h, left, top = cover_fit(*self.picture.size, width, height)
        scaled = self.picture.resize((fit_w, fit_h), Image.Resampling.LANCZOS)
        array = np.array(scaled)[top:top + height, left:left + width]  # a writable copy torch may own
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    def render(self, image, alpha, pts):
        if self.plane.shape[:2] != image.shape[:2] or self.plane.device != image.device:
            self.plane = self._fit(image.shape[1], image.shape[0], image.device)
        return self.plane


class VideoBackground(Background):
    """A video clip, looped, its time running with the frames' pts. Decoded on demand, holding one decoded frame
    and one fitted frame at a time, so memory stays bounded however long the clip is."""

    def __init__(self, path: Path, width: int, height: int, device: torch.device):
        self.path, self.size, self.device = path, (width, height), device
        self.container = None
        self._restart()
        self._start = self._last_pts = None

    def _restart(self) -> None:
        self.close()
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
            offset += last + 1.0 / self._rate

    def _decode(self):
        self.close()
        try:
            self.container = av.open(f"file:{Path(self.path).absolute()}")
            stream = self.container.streams.video[0]
            stream.thread_type = "AUTO"
            self._rate = float(stream.average_rate or stream.guessed_rate or 25)
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
        return self._fit(self.current[1], image.shape[1], image.shape[0], image.device)

    def _fit(self, frame: av.VideoFrame, width: int, height: int, device: torch.device) -> torch.Tensor:
        key = (id(frame), width, height, device)
        if self._fitted_for != key:
            turns = round((frame.rotation or 0) / 90) % 4  # a phone clip is stored sideways, shown upright
            shown_w, shown_h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
            fit_w, fit_h, left, top = cover_fit(shown_w, shown_h, width, height)
            scaled = frame.to_ndarray(format="rgb24", width=fit_h if turns % 2 else fit_w,
                                      height=fit_w if turns % 2 else fit_h)
            array = np.rot90(scaled, turns)[top:top + height, left:left + width]
            self._fitted = torch.from_numpy(np.ascontiguousarray(array)).to(device)
            self._fitted_for = key
        return self._fitted

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


class BlurBackground(Background):
    """The frame's own background, blurred, with the subject cut out *before* blurring (normalised convolution:
    blur(image * w) / blur(w), w = background weight), so the subject's colours do not bleed into a halo.

    The blur runs on a grid ``radius / 4`` times coarser than the frame (a blur this wide keeps nothing finer) as
    three box passes (close to a Gaussian); only the weighting and the final upsampling touch every pixel.
    """

    def __init__(self, radius: int | None = None):
        self.radius = radius

    def render(self, image, alpha, pts):
        height, width = image.shape[:2]
        radius = self.radius or max(2, round(0.025 * max(height, width)))
        factor = max(1, radius // 4)
        low = (math.ceil(height / factor), math.ceil(width / factor))
        picture = image.permute(2, 0, 1).unsqueeze(0).float()  # [1, 3, H, W]
        # squared: a half-covered edge pixel counts a quarter, so mixed edge colours barely enter the blur
        weight = (1.0 - alpha.float().clamp(0.0, 1.0)).square_()[None, None]  # [1, 1, H, W]
        colour, cover, plain = (F.interpolate(x, size=low, mode="area") for x in (picture * weight, weight, picture))
        # cells beside the subject may still hold some of it: trust a cell only as much as its least covered
        # neighbour (an erosion of the background weight by one cell)
        trust = -F.max_pool2d(-cover, 3, stride=1, padding=1)
        layers = _blur(torch.cat([colour * trust, cover * trust, plain], dim=1), max(1, round(radius / factor)))
        # where no background is near (deep inside the subject) fall back to the plain blur; alpha hides it there
        fallback = 1e-3
        blurred = (layers[:, :3] + fallback * layers[:, 4:]) / (layers[:, 3:4] + fallback)
        blurred = F.interpolate(blurred, size=(height, width), mode="bilinear", align_corners=False)
        return blurred[0].permute(1, 2, 0).add_(0.5).clamp_(0, 255).to(torch.uint8)


def _blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Three box passes of radius r/2 each: a Gaussian-like blur of about radius r."""
    step = max(1, radius // 2)
    for _ in range(3):
        x = box_filter(x, step)
    return x
