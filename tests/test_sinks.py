"""Sinks on real media and real servers: file outputs decoded back with PyAV, an RTMP server on loopback (ffmpeg),
pyvirtualcam's real ``Camera`` with a recording backend, the preview window's overlay and keys."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
import pyvirtualcam

from u2live.errors import OutputError, U2LiveError
from u2live.frame import Frame, VideoInfo
from u2live.sinks import FileSink, PreviewSink, RtmpSink, VirtualCameraSink, open_sinks
from u2live.sinks.preview import PygameWindow, draw_overlay
from u2live.sources import open_source


def copy_frames(source_path, sink_factory, limit=None):
    """Source -> sink, the way the pipeline's writer does; returns (sink, frames written)."""
    with open_source(str(source_path), live=False) as source:
        sink = sink_factory(source.info)
        with sink:
            for frame in source:
                if limit is not None and frame.index >= limit:
                    break
                sink.write(frame)
    return sink, frame.index if limit is None else min(limit, frame.index)


def probe(path):
    """Frames, size, rate, video end and audio (codec, duration) of a written file, decoded with PyAV."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        rate, size = video.average_rate, (video.codec_context.width, video.codec_context.height)
        frames = [f.time for f in container.decode(video=0)]
    audio = None
    with av.open(str(path)) as container:
        if container.streams.audio:
            stream = container.streams.audio[0]
            ends = [float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.pts is not None]
            starts = [float(p.pts * p.time_base) for p in av.open(str(path)).demux(audio=0) if p.pts is not None]
            audio = (stream.codec_context.name, max(ends) - min(starts), max(ends))
    return dict(frames=len(frames), size=size, rate=rate, video_end=max(frames) + 1 / float(rate), audio=audio)


def test_mp4_keeps_frame_count_size_rate_and_copies_ac3_cut_to_the_video(megamind, tmp_path):
    out = tmp_path / "out.mp4"
    sink, written = copy_frames(megamind, lambda info: FileSink(out, info), limit=48)
    got = probe(out)
    assert got["frames"] == written == 48 and got["size"] == (720, 528)
    assert got["rate"] == Fraction(2997, 125)
    codec, duration, audio_end = got["audio"]
    assert codec == "ac3"  # MP4 takes AC-3: copied, not re-encoded
    assert abs(duration - 48 / (2997 / 125)) < 0.25 and abs(audio_end - got["video_end"]) < 0.1


@pytest.mark.slow
def test_full_megamind_keeps_every_frame_and_the_whole_audio(megamind, tmp_path):
    out = tmp_path / "full.mp4"
    copy_frames(megamind, lambda info: FileSink(out, info))
    got, original = probe(out), probe(megamind)
    assert got["frames"] == 270 and got["size"] == (720, 528) and got["rate"] == original["rate"]
    assert abs(got["audio"][1] - original["audio"][1]) < 0.25


@pytest.mark.parametrize("suffix, codec", [(".webm", "opus"), (".flv", "aac"), (".mkv", "ac3")])
def test_other_containers_copy_or_reencode_the_audio(megamind, tmp_path, suffix, codec):
    out = tmp_path / f"out{suffix}"
    copy_frames(megamind, lambda info: FileSink(out, info), limit=24)
    got = probe(out)
    assert got["frames"] == 24 and got["audio"][0] == codec
    assert abs(got["audio"][2] - got["video_end"]) < 0.15  # in sync: both end together


@pytest.mark.parametrize("suffix", [".avi", ".webm"])
def test_audio_with_a_late_start_and_a_one_sample_packet_is_muxed(megamind, tmp_path, suffix):
    """``ffmpeg -ss 0 -t 2 -i Megamind.avi -c:a aac`` (a user's cut) starts the AAC track 0.51 s late and leaves a
    packet one sample long: copied into AVI's coarse audio time base two packets fell on one tick,
    re-encoded (WebM) two frames overlapped, and the run failed with "Invalid argument" at the first audio packet."""
    cut = tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "0", "-t", "2", "-i", str(megamind), "-c:a", "aac",
                    "-c:v", "libx264", "-preset", "ultrafast", str(cut)], check=True)
    packets = [p.duration for p in av.open(str(cut)).demux(audio=0) if p.pts is not None]
    assert 1 in packets  # the odd packet this test is about (what FFmpeg's cut makes today)
    out = tmp_path / f"out{suffix}"
    sink, written = copy_frames(cut, lambda info: FileSink(out, info))
    got = probe(out)
    assert got["frames"] == written + 1 and got["audio"] is not None


def test_interrupted_output_plays_and_holds_every_frame_written(write_clip, tmp_path):
    clip, out = write_clip(tmp_path / "clip.mp4", frames=24), tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with open_source(str(clip), live=False) as source, FileSink(out, source.info) as sink:
            for frame in source:
                sink.write(frame)
                if frame.index == 9:
                    raise KeyboardInterrupt
    got = probe(out)
    assert got["frames"] == 10 and got["audio"][0] == "aac" and got["audio"][2] <= 10 / 12 + 0.1


def x264_settings(path) -> str:
    """The option string x264 writes into every H.264 stream it makes ("... subme=7 ... rc_lookahead=12 ...")."""
    data = open(path, "rb").read()
    start = data.index(b"x264 - core")
    return data[start:data.index(b"\x00", start)].decode("ascii", "replace")


@pytest.mark.parametrize("live, preset", [(False, "subme=2"), (True, "subme=0")])
def test_a_live_recording_is_encoded_fastest_and_a_file_job_at_veryfast(write_clip, tmp_path, live, preset):
    """x264's veryfast preset (subme=2, CABAC) for u2live video; ultrafast (subme=0, no CABAC) for a recording of a live
    run, which must keep up with the camera on the CPU that also runs the model (u2live/sinks/file.py)."""
    clip, out = write_clip(tmp_path / "clip.mp4", frames=6, audio=False), tmp_path / "out.mp4"
    with open_source(str(clip), live=False) as source:
        info = dataclasses.replace(source.info, live=live)
        with FileSink(out, info) as sink:
            for frame in source:
                sink.write(frame)
    settings = x264_settings(out)
    assert preset in settings and ("cabac=0" in settings) == live
    assert probe(out)["frames"] == 6


def test_frames_go_to_4_2_0_as_ffmpeg_converts_them(megamind):
    """The encoders' RGB -> YUV 4:2:0 runs in OpenCV (faster); it must give FFmpeg's own (swscale) values."""
    from u2live.sinks.encoding import VideoCodec, _video_frame

    with open_source(str(megamind), live=False) as source:
        image = next(frame.image for frame in source if frame.index == 60)  # the clip opens on black
    assert image.std() > 20
    ours = _video_frame(image, VideoCodec("libx264", "yuv420p")).to_ndarray().astype(np.int16)
    ffmpeg = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == ffmpeg.shape and np.abs(ours - ffmpeg).mean() < 0.1 and np.abs(ours - ffmpeg).max() <= 12


def test_odd_frame_size_is_padded_not_refused(write_clip, tmp_path):
    clip, out = write_clip(tmp_path / "odd.mp4", size=(65, 49), frames=6, audio=False), tmp_path / "out.mp4"
    copy_frames(clip, lambda info: FileSink(out, info))
    got = probe(out)
    assert got["frames"] == 6 and got["size"] == (66, 50)


def rgba_frames(count=4, size=(64, 48)):
    """Left half opaque red, right half fully transparent."""
    width, height = size
    for index in range(count):
        image = np.zeros((height, width, 4), np.uint8)
        image[..., 0], image[:, : width // 2, 3] = 200, 255
        yield Frame(image, index / 10, index)


def decoded_alpha(path, decoder=None):
    """[H, W] alpha of every frame; ``decoder`` names a specific one (FFmpeg's own VP9 decoder drops alpha)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if decoder is None:
            return [f.to_ndarray(format="rgba")[..., 3] for f in container.decode(stream)]
        context = av.CodecContext.create(decoder, "r")
        return [f.to_ndarray(format="rgba")[..., 3] for p in container.demux(stream) for f in context.decode(p)]


@pytest.mark.parametrize("name, decoder", [("out.mov", None), ("out.webm", "libvpx-vp9")])
def test_transparent_video_keeps_its_alpha(tmp_path, name, decoder):
    info = VideoInfo(width=64, height=48, fps=Fraction(10))
    with FileSink(tmp_path / name, info, alpha=True) as sink:
        for frame in rgba_frames():
            sink.write(frame)
    alphas = decoded_alpha(tmp_path / name, decoder)
    assert len(alphas) == 4
    for alpha in alphas:
        assert alpha[:, :28].min() > 245 and alpha[:, 36:].max() < 10


@pytest.mark.parametrize("target", ["seq/%05d.png", "frames/"])
def test_png_sequence_keeps_its_alpha(tmp_path, target):
    from PIL import Image

    info = VideoInfo(width=64, height=48, fps=Fraction(10))
    with FileSink(f"{tmp_path}/{target}", info, alpha=True) as sink:
        for frame in rgba_frames(3):
            sink.write(frame)
    files = sorted(p for p in tmp_path.rglob("*.png"))
    assert [p.stem.lstrip("0") for p in files] == ["1", "2", "3"]
    image = np.asarray(Image.open(files[0]))
    assert image.shape == (48, 64, 4) and image[:, :32, 3].min() == 255 and image[:, 32:, 3].max() == 0


INFO = VideoInfo(width=64, height=48, fps=Fraction(10))


@pytest.mark.parametrize("make, expected", [
    (lambda d: FileSink(d / "out.xyz", INFO), "unknown output format .xyz"),
    (lambda d: FileSink(d / "out.mp4", INFO, alpha=True), "transparent output needs .mov"),
    (lambda d: FileSink("/proc/u2live-missing/out.mp4", INFO), "cannot create the folder /proc/u2live-missing"),
    (lambda d: FileSink("/proc/u2live-test.mp4", INFO), "cannot write /proc/u2live-test.mp4"),
    (lambda d: FileSink(d / "seq" / "%05d.jpg", INFO), "expected a .png pattern"),
    (lambda d: RtmpSink("http://example.com/live", INFO), "expected an rtmp:// or rtmps:// URL"),
    (lambda d: VirtualCameraSink(INFO, backend="nope"), "unknown virtual camera backend 'nope'"),
])
def test_output_errors_are_one_line(tmp_path, make, expected):
    with pytest.raises(OutputError, match=expected) as caught:
        make(tmp_path)
    assert isinstance(caught.value, (U2LiveError, OSError)) and "\n" not in str(caught.value)


def test_a_frame_of_the_wrong_size_is_an_output_error(tmp_path):
    with FileSink(tmp_path / "out.mp4", INFO) as sink:
        with pytest.raises(OutputError, match="expected 64x48 frames"):
            sink.write(Frame(np.zeros((10, 10, 3), np.uint8), 0.0, 0))


# --------------------------------------------------------------------------------------------------------- RTMP

def test_rtmp_server_on_loopback_receives_the_stream(write_clip, tmp_path, rtmp_server):
    clip = write_clip(tmp_path / "clip.mp4", frames=48, fps=24)
    sink, _ = copy_frames(clip, lambda info: RtmpSink(rtmp_server.url, info))
    assert rtmp_server.wait() == 0
    with av.open(str(rtmp_server.recording)) as got:
        codecs = sorted(s.codec_context.name for s in got.streams)
        received = sum(1 for _ in got.decode(video=0))
    assert codecs == ["aac", "h264"] and sink.frames == 48
    assert received >= 0.95 * 48


def test_rtmp_with_nothing_listening_fails_fast_with_one_line(write_clip, tmp_path, unused_port):
    clip = write_clip(tmp_path / "clip.mp4", frames=12, audio=False)
    started = time.monotonic()
    with pytest.raises(OutputError, match=f"rtmp://127.0.0.1:{unused_port}/live/x.*(refused|Connection)"):
        copy_frames(clip, lambda info: RtmpSink(f"rtmp://127.0.0.1:{unused_port}/live/x", info))
    assert time.monotonic() - started < 30  # bounded, not a hang (a generous bound: this is no speed test)


def test_rtmp_server_that_never_answers_times_out_instead_of_hanging():
    """A socket that accepts the connection but never speaks RTMP: the handshake times out (rw_timeout)."""
    import socket

    info = VideoInfo(width=64, height=48, fps=Fraction(10))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"rtmp://127.0.0.1:{silent.getsockname()[1]}/live/x"
        with pytest.raises(OutputError, match="timed out"):
            with RtmpSink(url, info, rw_timeout=0.5) as sink:
                for index in range(100):  # paced: 10 s of frames; the error comes long before
                    sink.write(Frame(np.zeros((48, 64, 3), np.uint8), index / 10, index))



# ---------------------------------------------------------------------------------------------- virtual camera

class RecordingBackend:
    """A pyvirtualcam backend (its documented protocol) that keeps what the real ``Camera`` sends."""

    opened: list["RecordingBackend"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc, self._device = width, height, fps, fourcc, device
        self.frames, self.closed = [], 0
        RecordingBackend.opened.append(self)

    def send(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        self.closed += 1

    def device(self):
        return self._device or "recording"

    def native_fourcc(self):
        return self.fourcc


@pytest.fixture
def recording_backend():
    RecordingBackend.opened.clear()
    pyvirtualcam.register_backend("u2live-test-recording", RecordingBackend)
    yield "u2live-test-recording"
    pyvirtualcam.camera.BACKENDS.pop("u2live-test-recording", None)


@pytest.mark.parametrize("size, sent", [((64, 48), (64, 48)), ((65, 49), (66, 50))])
def test_virtual_camera_gets_rgb_frames_of_the_right_size(recording_backend, size, sent):
    info = VideoInfo(width=size[0], height=size[1], fps=Fraction(30))
    image = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with VirtualCameraSink(info, backend=recording_backend) as sink:
        for index in range(3):
            sink.write(Frame(image, index / 30, index))
    backend = RecordingBackend.opened[-1]
    assert (backend.width, backend.height, backend.fourcc) == (*sent, pyvirtualcam.util.encode_fourcc("raw "))
    assert len(backend.frames) == 3 and backend.closed == 1
    received = backend.frames[0].reshape(sent[1], sent[0], 3)  # RGB, row-major
    assert np.array_equal(received[: size[1], : size[0]], image)
    assert np.array_equal(received[:, -1], received[:, sent[0] - 1])  # padding repeats the edge


def test_virtual_camera_without_v4l2loopback_names_the_module():
    if any(name.startswith("video") for name in os.listdir("/dev")):
        pytest.skip("a /dev/video device exists here")
    with pytest.raises(OutputError) as caught:
        VirtualCameraSink(INFO)
    message = str(caught.value)
    assert "v4l2loopback" in message and "modprobe v4l2loopback exclusive_caps=1" in message and "\n" not in message


# ------------------------------------------------------------------------------------------------------ preview

class FakeWindow:
    """Stands in for the window where keys must be scripted: records what is shown, answers with those keys
    (the real window runs under Xvfb in tests/test_preview_xvfb.py)."""

    def __init__(self, keys):
        self.keys, self.shown, self.closed = list(keys), [], False

    def show(self, rgb):
        self.shown.append(rgb)
        return self.keys.pop(0) if self.keys else -1

    def close(self):
        self.closed = True


@pytest.mark.parametrize("key, stops", [(ord("q"), True), (27, True), (ord("x"), False), (-1, False)])
def test_preview_quits_on_q_or_escape(key, stops):
    stop, window = threading.Event(), FakeWindow([-1, key])
    image = np.full((48, 64, 3), 100, np.uint8)
    with PreviewSink(stop, window=window) as sink:
        for index in range(2):
            sink.write(Frame(image, index / 10, index, time.perf_counter()))
    assert stop.is_set() == stops and window.closed and len(window.shown) == 2


def test_overlay_draws_fps_and_latency_in_the_corner_only():
    image = np.full((120, 320, 3), (10, 120, 200), np.uint8)
    rgb = draw_overlay(image, fps=24.0, latency_ms=85.0)
    assert rgb.shape == (120, 320, 3)
    assert np.abs(rgb[:30, :120].astype(int) - image[:30, :120]).sum() > 0  # text drawn
    assert np.array_equal(rgb[60:, :], image[60:, :])  # the rest is the frame, unchanged
    assert np.array_equal(image, np.full((120, 320, 3), (10, 120, 200), np.uint8))  # input untouched


def test_real_preview_without_a_display_fails_with_one_line(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(OutputError, match="--preview needs a display") as caught:
        PygameWindow("u2live-test")
    assert "\n" not in str(caught.value)


def test_open_sinks_closes_what_it_opened_when_a_later_sink_fails(write_clip, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    info = VideoInfo(width=64, height=48, fps=Fraction(10))
    with pytest.raises(OutputError, match="--preview needs"):
        open_sinks(output=tmp_path / "out.mp4", preview=True, info=info, stop_event=threading.Event())
    assert list(tmp_path.iterdir()) == []  # closed and removed: no frame was written, nothing is left (issue 9)


def test_open_sinks_opens_file_and_virtual_camera(recording_backend, tmp_path):
    info = VideoInfo(width=64, height=48, fps=Fraction(10))
    sinks = open_sinks(output=tmp_path / "out.mkv", vcam=True, info=info, vcam_backend=recording_backend)
    assert [s.name for s in sinks] == ["file", "vcam"]
    for sink in sinks:
        sink.write(Frame(np.zeros((48, 64, 3), np.uint8), 0.0, 0))
        sink.close()
    assert probe(tmp_path / "out.mkv")["frames"] == 1
