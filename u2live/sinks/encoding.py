"""PyAV encoding shared by the file and RTMP sinks: one output container, a video stream, the input's audio."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from ..errors import OutputError, U2LiveError
from ..frame import Frame, VideoInfo
from .audio import AudioFeed
from .base import even, pad_to, with_channels


@dataclass
class VideoCodec:
    """How to encode: PyAV codec name, pixel format, encoder options; ``alpha`` when the format keeps it."""

    codec: str
    pix_fmt: str
    options: dict = field(default_factory=dict)
    alpha: bool = False

    @property
    def subsampled(self) -> bool:
        return "420" in self.pix_fmt or "422" in self.pix_fmt


def _time_base(info: VideoInfo) -> Fraction:
    """The source's own time base keeps VFR timestamps exact; a coarse or odd one (cameras) gets 1/90000."""
    tb = Fraction(info.time_base) if info.time_base else Fraction(1, 90000)
    return tb if 0 < tb <= 1 / Fraction(info.fps) else Fraction(1, 90000)


def _video_frame(image: np.ndarray, codec: VideoCodec) -> av.VideoFrame:
    """The frame for the encoder. To 4:2:0 in OpenCV's SIMD kernel: 3 ms less a 1280x720 frame than FFmpeg's
    swscale here (~10% of a core at 30 FPS, which a live run needs) for the same BT.601 limited-range values (mean
    difference 0.04 levels)."""
    if codec.pix_fmt == "yuv420p" and not codec.alpha:
        return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(image, format="rgba" if codec.alpha else "rgb24")


class VideoEncoder:
    """Opens ``target`` (a path or URL) with PyAV and encodes frames into it; ``close`` flushes everything.

    ``audio`` names the file whose first audio stream is carried (``audio_codec`` None: copy when the container
    takes the codec). Every PyAV/OS failure becomes an :class:`OutputError` naming ``target``."""

    def __init__(self, target: str, info: VideoInfo, codec: VideoCodec, *, format: str | None = None,
                 container_options: dict | None = None, audio: str | None = None,
                 audio_codec: str | None = None, label: str | None = None) -> None:
        self.target, self.info, self.codec = target, info, codec
        self.label = label or target  # how messages name the output (``target`` may be a temporary file: URL)
        self.width, self.height = (even(info.width), even(info.height)) if codec.subsampled else (
            info.width, info.height)
        self.time_base = _time_base(info)
        self.frames = 0
        self._last_ticks: int | None = None
        self._end = 0.0  # seconds: end of the last frame written
        self.audio: AudioFeed | None = None
        self._container = None
        try:
            self._open(format, container_options or {}, audio, audio_codec)
        except BaseException:
            self._abandon()
            raise

    def _open(self, format, container_options, audio, audio_codec) -> None:
        with self._errors("open"):
            self._container = av.open(self.target, "w", format=format, container_options=container_options)
            self.stream = self._container.add_stream(self.codec.codec, rate=self.info.fps)
            context = self.stream.codec_context
            context.width, context.height, context.pix_fmt = self.width, self.height, self.codec.pix_fmt
            context.time_base = self.time_base
            context.options = {k: str(v) for k, v in self.codec.options.items()}
            if not self.info.live:
                # frame threads on every core for files (x264 at 720p: 12 ms a frame with slice threads on a 16-core
                # machine, under 4 with frame threads); live output keeps slice threads, which add no frames of delay
                context.thread_type, context.thread_count = "AUTO", 0
            if audio:
                self.audio = AudioFeed(audio, self._container, codec=audio_codec)
            self._container.start_encoding()  # writes the header: opens the file, connects to a server

    def _errors(self, doing: str):
        return _Wrap(f"cannot {doing} {self.label}")

    def write(self, frame: Frame) -> None:
        image = with_channels(np.asarray(frame.image), 4 if self.codec.alpha else 3)
        if image.shape[:2] != (self.info.height, self.info.width):
            raise OutputError(f"expected {self.info.width}x{self.info.height} frames for {self.label}, "
                              f"got {image.shape[1]}x{image.shape[0]}")
        image = pad_to(image, self.width, self.height)
        video_frame = _video_frame(image, self.codec)
        video_frame.pts = self._ticks(frame.pts)
        video_frame.time_base = self.time_base
        with self._errors("write"):
            for packet in self.stream.encode(video_frame):
                self._container.mux(packet)
            self._end = float(video_frame.pts * self.time_base + 1 / Fraction(self.info.fps))
            if self.audio is not None:
                self.audio.feed(self._end)
        self.frames += 1

    def _ticks(self, seconds: float) -> int:
        """Strictly increasing timestamps in the stream's time base (muxers reject repeats)."""
        ticks = round(seconds / self.time_base)
        if self._last_ticks is not None and ticks <= self._last_ticks:
            ticks = self._last_ticks + 1
        self._last_ticks = ticks
        return ticks

    def close(self) -> None:
        """Flush the video encoder, mux the audio up to the end of the last frame, write the trailer."""
        if self._container is None:
            return
        try:
            with self._errors("finish"):
                for packet in self.stream.encode(None):
                    self._container.mux(packet)
                if self.audio is not None:
                    audio, self.audio = self.audio, None
                    audio.finish(self._end)
                self._container.close()
        finally:
            self._abandon()

    def _abandon(self) -> None:
        """Release without flushing (after a failure); never raises."""
        container, self._container = self._container, None
        for resource in (self.audio, container):
            try:
                if resource is not None:
                    resource.close() if resource is container else resource.finish(-1.0)
            except Exception:  # noqa: BLE001 - already failing; the first error is the one reported
                pass
        self.audio = None


class _Wrap:
    """Turns PyAV and OS errors into one-line :class:`OutputError` messages; U2LiveErrors pass through."""

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb) -> bool:
        if err is None or isinstance(err, U2LiveError) or not isinstance(err, (av.FFmpegError, OSError)):
            return False
        reason = getattr(err, "strerror", None) or str(err)
        raise OutputError(f"{self.doing}: {reason}") from err
