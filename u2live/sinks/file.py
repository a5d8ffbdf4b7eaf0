"""File output: a video container chosen by extension (H.264 MP4 by default), or a PNG sequence."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError
from ..frame import Frame, VideoInfo
from .base import Sink, with_channels
from .encoding import VideoCodec, VideoEncoder
from .space import SpaceGuard

H264 = dict(codec="libx264", pix_fmt="yuv420p", options={"preset": "medium", "crf": 18})
VP9 = dict(options={"crf": 30, "b": 0, "deadline": "good", "cpu-used": 4, "row-mt": 1})
OPAQUE = {
    ".mp4": VideoCodec(**H264), ".m4v": VideoCodec(**H264), ".mov": VideoCodec(**H264),
    ".mkv": VideoCodec(**H264), ".avi": VideoCodec(**H264), ".ts": VideoCodec(**H264),
    ".flv": VideoCodec(**H264), ".webm": VideoCodec("libvpx-vp9", "yuv420p", **VP9),
}
TRANSPARENT = {
    ".mov": VideoCodec("prores_ks", "yuva444p10le", {"profile": "4444", "alpha_bits": 16}, alpha=True),
    ".webm": VideoCodec("libvpx-vp9", "yuva420p", alpha=True, **VP9),
}
SEQUENCE_DEFAULT = "%06d.png"


def is_sequence(path: str) -> bool:
    """A PNG sequence: a printf pattern (``out/%05d.png``), an existing directory, or a path ending in a slash."""
    return "%" in os.path.basename(path) or os.path.isdir(path) or path.endswith(os.sep)


class FileSink(Sink):
    """``FileSink(path, info, alpha=False)``: same frame count, size (odd sizes padded to even for 4:2:0) and frame
    rate as the input; the input's first audio stream kept in sync. ``alpha=True`` needs ``.mov`` (ProRes 4444),
    ``.webm`` (VP9 with alpha) or a PNG sequence."""

    name = "file"

    def __init__(self, path, info: VideoInfo, *, alpha: bool = False) -> None:
        self.path = str(path)
        self.alpha = alpha
        self._space = None  # PNG sequences: each frame is its own file, a full disk spoils only the last one
        if is_sequence(self.path):
            self._writer = PngSequence(self.path, info, alpha=alpha)
        else:
            codec = _codec_for(self.path, alpha)
            _check_writable(Path(self.path))
            self._writer = VideoEncoder(self.path, info, codec, audio=info.audio)
            self._space = SpaceGuard(self.path)

    @property
    def frames(self) -> int:
        """Frames written so far (also after close)."""
        return self._writer.frames

    def write(self, frame: Frame) -> None:
        if self._space is not None:
            self._space.check(self._writer.frames)  # a full disk stops the run while the file can be finished
        self._writer.write(frame)

    def _close(self) -> None:
        self._writer.close()


def _codec_for(path: str, alpha: bool) -> VideoCodec:
    suffix = Path(path).suffix.lower()
    table = TRANSPARENT if alpha else OPAQUE
    if suffix in table:
        return table[suffix]
    if alpha:
        raise OutputError(f"transparent output needs .mov (ProRes 4444), .webm (VP9) or a PNG sequence "
                          f"(out/%05d.png or a directory), got {path!r}")
    known = ", ".join(sorted(OPAQUE))
    raise OutputError(f"unknown output format {suffix or '(no extension)'} for {path!r}: expected one of {known}, "
                      "or a PNG sequence (out/%05d.png or a directory)")


def _check_writable(path: Path) -> None:
    """Fail before any frame is processed, with the reason the OS gives."""
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: the directory {path.parent} does not exist")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror}") from err
    if not existed:
        path.unlink(missing_ok=True)


class PngSequence:
    """One PNG per frame (RGBA with ``alpha``), numbered from 1 like FFmpeg's image2 muxer."""

    def __init__(self, path: str, info: VideoInfo, *, alpha: bool) -> None:
        if "%" not in os.path.basename(path):
            path = os.path.join(path, SEQUENCE_DEFAULT)
        try:
            sample = path % 1
        except (TypeError, ValueError) as err:
            raise OutputError(f"expected a PNG pattern with one number field like out/%05d.png, got {path!r}") \
                from err
        if Path(sample).suffix.lower() != ".png":
            raise OutputError(f"image sequences are written as PNG: expected a .png pattern, got {path!r}")
        try:
            Path(sample).parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror}") from err
        self.pattern, self.info, self.alpha = path, info, alpha
        self.frames = 0

    def write(self, frame: Frame) -> None:
        image = with_channels(np.asarray(frame.image), 4 if self.alpha else 3)
        target = self.pattern % (self.frames + 1)
        try:
            Image.fromarray(image).save(target, compress_level=1)
        except OSError as err:
            raise OutputError(f"cannot write {target}: {err.strerror or err}") from err
        self.frames += 1

    def close(self) -> None:
        pass
