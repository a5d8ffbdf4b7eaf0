"""The input's first audio stream carried into an output container, kept in step with the video written.

The audio is read from the input file by the sink itself and muxed up to the end of the last video frame written,
so the output's audio and video end together (also for ``--max-frames`` or an interrupted run) and the muxer never
buffers a whole track. Packets are copied when the output container takes the codec, else decoded and re-encoded
(AAC, or the container's own audio codec where it takes no AAC, e.g. Opus in WebM).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import av

from ..errors import InputError
from ..sources import ffmpeg_name

# Containers whose muxer accepts a codec that common players or servers then reject: copy only these codecs there.
COPY_ONLY = {"flv": {"aac", "mp3"}, "webm": {"opus", "vorbis"},
             "mp4": {"aac", "ac3", "eac3", "mp3", "opus", "alac", "flac"}}  # not PCM: few MP4 players take it


class AudioFeed:
    """Adds an audio stream to ``output`` (before its header is written) and feeds it with ``feed(until)``."""

    def __init__(self, path: str, output, *, codec: str | None = None) -> None:
        try:
            self._input = av.open(ffmpeg_name(path), metadata_errors="ignore")
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"cannot read the audio of {path}: {err.strerror or err}") from err
        self.path = path
        self._in = self._input.streams.audio[0]
        video = self._input.streams.video[0] if self._input.streams.video else None
        # the source counts pts from the video stream's start; audio is placed on the same clock
        self._origin = float((video.start_time or 0) * video.time_base) if video is not None else 0.0
        self.copy = codec is None and self._can_copy(output)
        if self.copy:
            self.stream = output.add_stream_from_template(self._in)
        else:
            self.stream = self._add_encoder(output, codec)
        self._output = output
        self._items = self._packets() if self.copy else self._encoded()
        self._held = None  # the first item past the last ``until``
        self._last_dts: int | None = None  # in the output stream's time base

    def _can_copy(self, output) -> bool:
        name = self._in.codec_context.name
        allowed = COPY_ONLY.get(output.format.name)
        return name in output.supported_codecs and (allowed is None or name in allowed)

    def _add_encoder(self, output, codec: str | None):
        if codec is None:
            codec = "aac" if "aac" in output.supported_codecs else output.default_audio_codec
        layout = self._in.layout.name if self._in.layout and self._in.layout.nb_channels <= 2 else "stereo"
        rate = self._in.rate if codec != "libopus" else 48000  # Opus runs at 48 kHz only
        stream = output.add_stream(codec, rate=rate, layout=layout)
        stream.bit_rate = 160_000
        return stream

    def _seconds(self, pts: int, time_base: Fraction) -> float:
        return float(pts * time_base) - self._origin

    def _packets(self) -> Iterator[tuple[float, av.Packet]]:
        """Copy mode: the input's packets, re-timed onto the output clock (negative times dropped)."""
        shift = round(self._origin / self._in.time_base)
        for packet in self._input.demux(self._in):
            if packet.pts is None or packet.size == 0:
                continue
            seconds = self._seconds(packet.pts, self._in.time_base)
            if seconds < 0:
                continue
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            yield seconds, packet

    def _frames(self) -> Iterator[av.AudioFrame]:
        """Decoded frames; a damaged packet (Megamind.avi's first AC-3 frame is incomplete) is skipped."""
        for packet in self._input.demux(self._in):
            try:
                yield from packet.decode()
            except av.InvalidDataError:
                continue

    def _encoded(self) -> Iterator[tuple[float, av.Packet]]:
        """Re-encode mode: frames stamped in samples of the output rate, then encoded."""
        rate = self.stream.codec_context.sample_rate
        resampler = av.AudioResampler(format=self.stream.codec_context.format, layout=self.stream.layout,
                                      rate=rate)
        next_sample = 0  # where the samples already encoded end: a frame stamped earlier would overlap them
        for frame in self._frames():
            if frame.pts is None:
                continue
            seconds = self._seconds(frame.pts, frame.time_base)
            if seconds < 0:
                continue
            for converted in resampler.resample(frame):
                converted.pts = max(round(seconds * rate), next_sample)
                converted.time_base = Fraction(1, rate)
                next_sample = converted.pts + converted.samples
                for packet in self.stream.encode(converted):
                    yield seconds, packet
                seconds = next_sample / rate

    def feed(self, until: float) -> None:
        """Mux everything that starts before ``until`` seconds."""
        while True:
            item = self._held if self._held is not None else next(self._items, None)
            self._held = None
            if item is None:
                return
            seconds, packet = item
            if seconds >= until:
                self._held = item
                return
            if self.copy:
                self._retime(packet)
            self._output.mux(packet)

    def _retime(self, packet: av.Packet) -> None:
        """Copied packets in the output stream's time base with strictly increasing dts: a coarse one (AVI's
        1024/48000 for AAC, FLV's milliseconds) can round two close packets (a cut clip's 1-sample packet) onto
        one tick, which the muxer rejects ("non monotonically increasing dts")."""
        scale = packet.time_base / self.stream.time_base
        dts = round((packet.dts if packet.dts is not None else packet.pts) * scale)
        if self._last_dts is not None and dts <= self._last_dts:
            dts = self._last_dts + 1
        pts, duration = max(round(packet.pts * scale), dts), round((packet.duration or 0) * scale)
        packet.pts, packet.dts, packet.duration, packet.time_base = pts, dts, duration, self.stream.time_base
        self._last_dts = dts

    def skip(self, until: float) -> None:
        """Drop everything that starts before ``until`` seconds: a stream reconnecting mid-file resumes there."""
        while True:
            item = self._held if self._held is not None else next(self._items, None)
            self._held = None
            if item is None or item[0] >= until:
                self._held = item
                return

    def finish(self, until: float) -> None:
        """Mux up to ``until``, flush the encoder, close the input. Called once, before the output is closed."""
        try:
            self.feed(until)
            if not self.copy:
                for packet in self.stream.encode(None):
                    self._output.mux(packet)
        finally:
            self._input.close()
