"""RTMP streaming: FLV with H.264 (+ AAC when the source has audio), low-latency encoder settings.

The network side runs in FFmpeg's ``fifo`` pseudo-muxer: the FLV muxer and the RTMP connection live in FFmpeg's own
thread with a bounded packet queue that drops on overflow, so a slow or stalled server never blocks the pipeline's
writer thread, and ``rw_timeout`` bounds the connect, handshake and every write. (PyAV opens a plain output with
``avio_open`` while holding the GIL and without an interrupt callback: a server that accepts TCP but never answers
the handshake would freeze the whole process.) A refused or failed connection surfaces as an ``OutputError`` on the
next write.

A stream plays in real time, so frames that come faster (a file processed offline on a fast machine) are paced
to their timestamps, at most ``LEAD_SECONDS`` ahead, like ``ffmpeg -re``; otherwise servers drop or refuse them.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from ..errors import OutputError
from ..frame import Frame, VideoInfo
from .base import Sink
from .encoding import VideoCodec, VideoEncoder

RW_TIMEOUT_SECONDS = 5
LEAD_SECONDS = 1.0  # how far ahead of real time a file may be sent (a live source is never ahead)
QUEUE_PACKETS = 600  # ~10 s of video and audio at 30 fps: room for the connect and for bursts


def low_latency_h264(info: VideoInfo) -> VideoCodec:
    """x264 for live streaming: no B-frames or lookahead (zerolatency), a keyframe every second (viewers join and
    recover fast), capped bitrate so a network with headroom keeps up."""
    fps = max(1, round(float(info.fps)))
    kbps = max(500, min(6000, info.width * info.height * fps // 10_000))  # ~2.8 Mb/s at 720p30
    return VideoCodec("libx264", "yuv420p", {
        "preset": "veryfast", "tune": "zerolatency", "g": fps, "keyint_min": fps, "sc_threshold": 0,
        "crf": 23, "maxrate": f"{kbps}k", "bufsize": f"{kbps}k"})


def check_rtmp_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtmp", "rtmps") or not parts.hostname:
        raise OutputError(f"expected an rtmp:// or rtmps:// URL with a host, got {url!r}")
    return url


class RtmpSink(Sink):
    """``RtmpSink(url, info)``: streams to an RTMP server (YouTube, Twitch, nginx-rtmp, ``ffmpeg -listen 1``)."""

    name = "rtmp"

    def __init__(self, url: str, info: VideoInfo, *, rw_timeout: float = RW_TIMEOUT_SECONDS) -> None:
        self.url = check_rtmp_url(str(url))
        self.info = info
        self.rw_timeout = rw_timeout
        self._encoder: VideoEncoder | None = None
        self._clock: float | None = None  # perf_counter() at pts 0
        self.frames = 0
        self._connect()

    def _connect(self) -> None:
        """Open the stream: container, encoders, header (the connection itself). Reconnecting = calling it again."""
        options = {
            "fifo_format": "flv",
            "format_opts": f"rw_timeout={int(self.rw_timeout * 1_000_000)}:flvflags=no_duration_filesize",
            "queue_size": str(QUEUE_PACKETS), "drop_pkts_on_overflow": "1", "attempt_recovery": "0",
        }
        self._encoder = VideoEncoder(self.url, self.info, low_latency_h264(self.info), format="fifo",
                                     container_options=options, audio=self.info.audio, audio_codec="aac")

    def write(self, frame: Frame) -> None:
        if self._encoder is None:
            raise OutputError(f"the stream to {self.url} is closed")
        self._pace(frame.pts)
        self._encoder.write(frame)
        self.frames += 1

    def _pace(self, pts: float) -> None:
        now = time.perf_counter()
        if self._clock is None:
            self._clock = now - pts
        ahead = self._clock + pts - now - LEAD_SECONDS
        if ahead > 0:
            time.sleep(min(ahead, 1.0))  # bounded: a jump in timestamps must not stall the writer

    def _close(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.close()
