"""RTMP streaming: FLV with H.264 (+ AAC when the source has audio), low-latency encoder settings.

The network side runs in FFmpeg's ``fifo`` pseudo-muxer: the FLV muxer and the RTMP connection live in FFmpeg's own
thread with a bounded packet queue that drops on overflow, so a slow or stalled server never blocks the pipeline's
writer thread, and ``rw_timeout`` bounds the connect, handshake and every write. (PyAV opens a plain output with
``avio_open`` while holding the GIL and without an interrupt callback: a server that accepts TCP but never answers
the handshake would freeze the whole process.) A refused or failed connection surfaces as an ``OutputError`` on the
next write.

A stream that was up and then fails (the server restarts, the network drops) is reconnected with backoff
(``_connect()`` again, 1 s, 2 s, 4 s ... at most 30 s apart) while the other sinks keep recording; each loss, failed
try and recovery is one line on stderr, and after ``give_up_after`` seconds down the sink raises ``OutputError``.
Frames that come while the stream is down are not sent; audio resumes where the video does. A connection that
fails before it was ever up (nothing listening, a wrong URL) is an ``OutputError`` at once.

A stream plays in real time, so frames that come faster (a file processed offline on a fast machine) are paced
to their timestamps, at most ``LEAD_SECONDS`` ahead, like ``ffmpeg -re``; otherwise servers drop or refuse them.
"""
from __future__ import annotations

import time
from typing import Callable
from urllib.parse import urlsplit

from ..console import say
from ..errors import OutputError, U2LiveError
from ..frame import Frame, VideoInfo
from .base import Sink
from .encoding import VideoCodec, VideoEncoder

RW_TIMEOUT_SECONDS = 5
LEAD_SECONDS = 1.0  # how far ahead of real time a file may be sent (a live source is never ahead)
QUEUE_PACKETS = 600  # ~10 s of video and audio at 30 fps: room for the connect and for bursts
BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30)  # waits between reconnection tries; the last one repeats
GIVE_UP_SECONDS = 300.0  # a stream down this long ends the run (files are finalised)


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

    def __init__(self, url: str, info: VideoInfo, *, rw_timeout: float = RW_TIMEOUT_SECONDS,
                 give_up_after: float = GIVE_UP_SECONDS, log: Callable[[str], None] | None = None) -> None:
        self.url = check_rtmp_url(str(url))
        self.info = info
        self.rw_timeout = rw_timeout
        self.give_up_after = give_up_after
        self.log = log or say
        self._encoder: VideoEncoder | None = None
        self._clock: float | None = None  # perf_counter() at pts 0
        self.frames = 0
        self.reconnects = 0  # successful reconnections
        self.skipped = 0  # frames not sent while the stream was down
        self._was_up = False  # the stream has worked once: a later failure is reconnected, not fatal
        self._tries = 0  # reconnection tries since the stream went down
        self._down_since: float | None = None
        self._next_try = 0.0
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
        self._connected_at, self._writes = time.perf_counter(), 0

    def write(self, frame: Frame) -> None:
        if self._closed:
            raise OutputError(f"the stream to {self.url} is closed")
        if self._encoder is None and not self._reconnect(frame.pts):
            self.skipped += 1
            return
        self._pace(frame.pts)
        try:
            self._encoder.write(frame)
        except OutputError as err:
            self._lost(err)
            return
        self.frames += 1
        self._writes += 1
        self._check_up()

    def _check_up(self) -> None:
        """The fifo connects in FFmpeg's thread and reports a failure on a later write: the stream counts as up
        once writes have gone through for longer than a connect and handshake may take (``rw_timeout``)."""
        if (self._was_up and self._tries == 0) or self._writes < 2:
            return
        if time.perf_counter() - self._connected_at < self.rw_timeout + 1.0:
            return
        if self._tries:
            self.reconnects += 1
            self.log(f"u2live: reconnected to {self.url} (down {self._connected_at - self._down_since:.1f} s; "
                     f"{self.skipped} frames not streamed so far)")
        self._was_up, self._tries, self._down_since = True, 0, None

    def _lost(self, err: OutputError) -> None:
        """A write failed: fatal before the stream was ever up, else drop this connection and plan the next try."""
        self._drop_encoder()
        if not self._was_up or err.__cause__ is None:  # never up, or not the connection (a frame of a wrong size)
            raise err
        now = time.perf_counter()
        reason = _reason(err)
        if self._tries == 0:
            self._down_since = now
            what = f"lost the stream to {self.url} ({reason})"
        else:
            what = f"reconnecting to {self.url} failed ({reason})"
        if now - self._down_since >= self.give_up_after:
            raise OutputError(f"the stream to {self.url} has been down for {now - self._down_since:.0f} s "
                              f"({reason}): giving up") from err
        wait = BACKOFF_SECONDS[min(self._tries, len(BACKOFF_SECONDS) - 1)]
        self._next_try = now + wait
        self.log(f"u2live: warning: {what}; next try in {wait} s, the other outputs keep recording")

    def _reconnect(self, pts: float) -> bool:
        """Open a new connection when the backoff has passed; its audio starts at ``pts``, like its video."""
        if time.perf_counter() < self._next_try:
            return False
        self._tries += 1
        try:
            self._connect()
        except OutputError as err:  # fifo opens asynchronously, so this is rare (e.g. no memory)
            self._lost(err)
            return False
        if self._encoder.audio is not None:
            self._encoder.audio.skip(pts)
        return True

    def _drop_encoder(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            try:
                encoder.close()  # the connection is gone: flushing fails, releasing does not
            except U2LiveError:
                pass

    def _pace(self, pts: float) -> None:
        now = time.perf_counter()
        if self._clock is None:
            self._clock = now - pts
        ahead = self._clock + pts - now - LEAD_SECONDS
        if ahead > 0:
            time.sleep(min(ahead, 1.0))  # bounded: a jump in timestamps must not stall the writer

    def _close(self) -> None:
        if self._tries:  # closing during a reconnection: whatever that connection did is already lost
            self._drop_encoder()
            return
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.close()


def _reason(err: BaseException) -> str:
    """The OS's words for a failure ("Broken pipe"), without the URL the message already names."""
    cause = err.__cause__
    return getattr(cause, "strerror", None) or str(cause or err)
