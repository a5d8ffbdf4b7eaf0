"""File output: a video container chosen by extension (H.264 MP4 by default), or a PNG sequence."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputError
from ..frame import Frame, VideoInfo
from ..outputs import StagedOutput, check_target, refuse_claiming_inputs, refuse_overwriting_inputs
from .base import Sink, with_channels
from .encoding import VideoCodec, VideoEncoder
from .space import SpaceGuard

H264 = dict(codec="libx264", pix_fmt="yuv420p", options={"preset": "veryfast", "crf": 18})
# A live recording must keep up with the camera beside the model: at 1280x720 on one core of the 2-core EPYC x264
# took 56 ms a frame at medium, 31 at veryfast, 9 at ultrafast (benchmarks/results/live-profile.json), and 30 FPS
# leaves ~33 ms a frame for everything. Ultrafast at the same CRF keeps the picture and costs disk (files ~2.5x
# larger). Offline work (u2live video) takes veryfast: on Megamind at 1280x720, CRF 18, one thread, 22 ms of CPU a
# frame against medium's 55, and a file no larger (497 KB against 549 for 60 frames): medium alone would take more
# than the whole 2-core budget of a 25 FPS run, and it left a GPU run waiting on the encoder.
LIVE_H264_PRESET = "ultrafast"
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
NUMBER_FIELD = re.compile(r"%0?\d*d")  # the frame number field of a sequence pattern, as FFmpeg's image2 takes
# Crash-safe MP4/MOV: the index goes up front (with the first fragment: delay_moov lets AC-3 audio describe
# itself first) and a self-contained fragment is cut at least every second, so a run killed with SIGKILL (or a
# power cut) leaves a file that plays up to its last fragment; a finished file plays everywhere. flush_packets: a
# finished fragment goes to the disk at once, not when FFmpeg's 256 KB write buffer fills (measured: 55 of 120
# frames survived a kill without it, 96 with it).
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof", "frag_duration": "1000000",
              "flush_packets": "1"}
FRAGMENTABLE = (".mp4", ".m4v", ".mov")


def is_sequence(path: str) -> bool:
    """A PNG sequence: a number pattern (``out/%05d.png``, ``%d``), an existing directory, or a path ending in
    a slash. Any other ``%`` (``100% done.mp4``) is part of a plain name."""
    path = str(path)
    return bool(NUMBER_FIELD.search(os.path.basename(path))) or os.path.isdir(path) or path.endswith(os.sep)


def check_output(path, *, alpha: bool = False, overwrite: bool = True, inputs=()) -> None:
    """Everything about ``-o path`` that can be known before any work: the format its extension names, the
    sequence pattern, the overwrite policy, that it destroys none of ``inputs`` (paths, or {path: what it is}:
    a PNG sequence neither writes nor removes an input that lies in its folder under a frame's name). Creates
    nothing."""
    path = str(path)
    if is_sequence(path):
        folder, pattern = _sequence_parts(path)
        if os.path.lexists(folder) and not folder.is_dir():
            raise OutputError(f"cannot write the frames to {folder}: it is a file, not a folder")
        refuse_claiming_inputs(folder, _frame_names(pattern), inputs)
        check_target(folder / (pattern % 1), overwrite=overwrite)
    else:
        _codec_for(path, alpha)
        refuse_overwriting_inputs([path], inputs)
        check_target(path, overwrite=overwrite)
        if os.path.isdir(path):
            raise OutputError(f"cannot write {path}: it is a folder")


class FileSink(Sink):
    """``FileSink(path, info, alpha=False)``: same frame count, size (odd sizes padded to even for 4:2:0) and frame
    rate as the input; the input's first audio stream kept in sync. ``alpha=True`` needs ``.mov`` (ProRes 4444),
    ``.webm`` (VP9 with alpha) or a PNG sequence.

    Written under a temporary name beside ``path`` (see :class:`u2live.outputs.StagedOutput`) and moved into place
    by ``close()``: an existing ``path`` is replaced only by a complete result (or a live recording the user
    ended). After :meth:`failed` (an error, or an interrupt of a file's run), ``close()`` keeps what was written
    as ``<stem>.partial<suffix>`` (:attr:`kept`) instead. A sink that wrote no frame leaves nothing behind.
    ``fragmented`` (default) writes MP4/MOV as fragmented MP4."""

    name = "file"

    def __init__(self, path, info: VideoInfo, *, alpha: bool = False, overwrite: bool = True,
                 fragmented: bool = True) -> None:
        self.path = str(path)
        self.alpha = alpha
        self.live = info.live
        self.kept: Path | None = None  # where a failed run's frames went
        self._error: BaseException | None = None
        self._space = None  # PNG sequences: each frame is its own file, a full disk spoils only the last one
        check_output(self.path, alpha=alpha, overwrite=overwrite)
        if is_sequence(self.path):
            folder, pattern = _sequence_parts(self.path)
            self._staged = StagedOutput(folder, overwrite=overwrite, folder=True, stale=_frame_names(pattern))
            self._writer = PngSequence(str(self._staged.path / pattern), info, alpha=alpha)
            return
        codec = _codec_for(self.path, alpha)
        self._staged = StagedOutput(self.path, overwrite=overwrite)
        options = None
        if info.live and codec.codec == "libx264":
            codec = dataclasses.replace(codec, options={**codec.options, "preset": LIVE_H264_PRESET})
        if fragmented and Path(self.path).suffix.lower() in FRAGMENTABLE:
            options, codec = FRAGMENTED, _short_delay(codec, info)
        try:
            self._writer = VideoEncoder(f"file:{self._staged.path}", info, codec, audio=info.audio,
                                        container_options=options, label=self.path)
        except BaseException:
            self._staged.discard()
            raise
        self._space = SpaceGuard(self._staged.path)

    @property
    def frames(self) -> int:
        """Frames written so far (also after close)."""
        return self._writer.frames

    def write(self, frame: Frame) -> None:
        if self._space is not None:
            self._space.check(self._writer.frames)  # a full disk stops the run while the file can be finished
        self._writer.write(frame)

    def failed(self, error: BaseException) -> None:
        """The run ends with ``error``: ``close()`` keeps the frames as a partial file. A live recording that the
        user stops (Ctrl-C, SIGTERM) is complete: it has no other end. A file's run that is interrupted is not:
        its frames never take the final name (where they would replace a whole result, or pass for one)."""
        if not (self.live and isinstance(error, KeyboardInterrupt)):
            self._error = error

    def _close(self) -> None:
        try:
            self._writer.close()
        except BaseException as err:
            self._error = self._error or err
            self._finish()
            raise
        self._finish()

    def _finish(self) -> None:
        if self.frames == 0:
            self._staged.discard()  # nothing to show: the target, if any, stays as it was
        elif self._error is None:
            self._staged.commit()
        else:
            self.kept = self._staged.keep_partial()


def _short_delay(codec: VideoCodec, info: VideoInfo) -> VideoCodec:
    """x264 holds up to 40 frames for its lookahead (1.7 s at 24 fps, 4 s at 10): a crash loses those as well as
    the unfinished fragment. Half a second of lookahead keeps the loss within ~1.5 s (cost: see the README)."""
    if codec.codec != "libx264":
        return codec
    lookahead = max(4, min(40, round(float(info.fps) / 2)))
    return dataclasses.replace(codec, options={**codec.options, "rc-lookahead": lookahead})


def kept_note(sinks) -> str:
    """" (the N frames written are kept in X)" for a failed or interrupted run's file sink; "" when there is
    none."""
    for sink in sinks:
        if getattr(sink, "kept", None) is not None:
            return f" (the {sink.frames} frames written are kept in {sink.kept})"
    return ""


def _sequence_parts(path: str) -> tuple[Path, str]:
    """``out/%05d.png`` -> (Path("out"), "%05d.png"); a folder -> (folder, the default pattern)."""
    folder, pattern = (os.path.dirname(path), os.path.basename(path)) \
        if NUMBER_FIELD.search(os.path.basename(path)) else (path, SEQUENCE_DEFAULT)
    try:
        sample = pattern % 1
    except (TypeError, ValueError) as err:
        raise OutputError(f"expected a PNG pattern with one number field like out/%05d.png, got {path!r}") \
            from err
    if Path(sample).suffix.lower() != ".png":
        raise OutputError(f"image sequences are written as PNG: expected a .png pattern, got {path!r}")
    return Path(folder or "."), pattern


def _frame_names(pattern: str):
    """A test for the file names ``pattern`` produces (the frames of an older run into the same folder)."""
    head, tail = NUMBER_FIELD.split(pattern, maxsplit=1)
    regex = re.compile(re.escape(head) + r"\d+" + re.escape(tail))
    return lambda name: regex.fullmatch(name) is not None


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


class PngSequence:
    """One PNG per frame (RGBA with ``alpha``) from ``pattern`` (a printf pattern in an existing folder),
    numbered from 1 like FFmpeg's image2 muxer."""

    def __init__(self, pattern: str, info: VideoInfo, *, alpha: bool) -> None:
        self.pattern, self.info, self.alpha = pattern, info, alpha
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
