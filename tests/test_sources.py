"""Sources: PyAV files (every frame, stream timestamps, rotation, live pacing, bad input) and the OpenCV camera
grabber, driven by ``FakeCapture`` since this machine has no camera."""
from __future__ import annotations

import shutil
import subprocess
import threading
import time

import numpy as np
import pytest

from u2live.sources import camera
from u2live.errors import InputError
from u2live.sources import CameraSource, FileSource, SourceLostError, open_source


def test_file_source_every_frame_with_stream_timestamps(megamind):
    with open_source(str(megamind), live=False) as source:
        info = source.info
        frames = list(source)
    assert (info.width, info.height, info.frames, info.audio) == (720, 528, 270, str(megamind))
    assert abs(float(info.fps) - 23.976) < 0.01 and not info.live
    assert len(frames) == 270 and [f.index for f in frames] == list(range(270))
    assert all(f.image.shape == (528, 720, 3) and f.image.dtype == np.uint8 for f in frames[:5])
    # Megamind.avi stores packed B-frames with permuted timestamps: repaired to one frame period apart
    steps = np.diff([f.pts for f in frames])
    assert np.allclose(steps, 1 / float(info.fps), atol=1e-6)
    assert all(f.captured_at > 0 for f in frames)


def test_variable_frame_rate_timestamps_come_from_the_stream(write_clip, tmp_path):
    clip = write_clip(tmp_path / "vfr.mkv", frames=6, ticks=[0, 10, 30, 35, 80, 90], audio=False)
    with open_source(str(clip), live=False) as source:
        pts = [f.pts for f in source]
    assert pts == pytest.approx([0, 1 / 12, 3 / 12, 3.5 / 12, 8 / 12, 9 / 12], abs=0.002)


def _ffmpeg_rotated(path, degrees):
    """Tag ``path`` with a display rotation the way this ffmpeg knows how (newer: -display_rotation)."""
    rotated = path.with_name("rotated.mp4")
    attempts = [["-display_rotation:v:0", str(degrees), "-i", str(path)],
                ["-i", str(path), "-metadata:s:v:0", f"rotate={(-degrees) % 360}"]]
    for args in attempts:
        done = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, "-c", "copy", str(rotated)],
                              capture_output=True)
        if done.returncode == 0:
            return rotated
    pytest.skip("this ffmpeg cannot tag a display rotation")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command (apt-get install ffmpeg)")
def test_rotation_metadata_is_honoured_like_ffmpeg_autorotate(write_clip, tmp_path):
    rotated = _ffmpeg_rotated(write_clip(tmp_path / "clip.mp4", frames=3, audio=False), 90)
    with open_source(str(rotated), live=False) as source:
        ours = next(iter(source)).image
    assert ours.shape == (96, 72, 3) and (source.info.width, source.info.height) == (72, 96)
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(rotated), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(96, 72, 3)  # ffmpeg autorotates by default
    assert np.abs(ours.astype(int) - reference).mean() < 3
    assert np.abs(np.rot90(ours, 2).astype(int) - reference).mean() > 20  # the wrong way round would differ


def test_live_file_is_paced_and_keeps_only_the_newest_frame(write_clip, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=24, fps=12, audio=False)
    with open_source(str(clip), live=True) as source:
        assert source.info.live
        frames = iter(source)
        first = next(frames)
        time.sleep(0.6)  # the consumer falls behind by ~7 frames
        second = next(frames)
        rest = list(frames)
    assert second.index >= first.index + 3  # stale frames were dropped, not queued
    for frame in [first, second, *rest]:  # never delivered before its time (a lower bound: load only delays)
        assert frame.captured_at - first.captured_at >= frame.pts - first.pts - 0.05
    assert rest[-1].index == 23


def test_close_joins_the_reader_and_is_idempotent(megamind):
    source = open_source(str(megamind), live=False)
    next(iter(source))  # the reader is now blocked on a full queue
    source.close()
    source.close()
    assert not source._thread.is_alive()
    assert list(source) == []


def test_damaged_megamind_decodes_every_frame(media_dir):
    """Megamind_bugy.avi's damage is in its header (30 fps, no audio); its 270 frames all decode: processed, with
    timestamps still increasing."""
    with open_source(str(media_dir / "Megamind_bugy.avi"), live=False) as source:
        pts = [f.pts for f in source]
    assert len(pts) == 270 and source.info.audio is None and np.all(np.diff(pts) > 0)


def test_truncated_file_yields_what_it_holds(megamind, tmp_path):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(megamind.read_bytes()[: megamind.stat().st_size // 2])
    with open_source(str(cut), live=False) as source:
        count = sum(1 for _ in source)
    assert 50 < count < 270


def _zero_frame_video(path):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = 64, 48
        out.start_encoding()
    return path


def _audio_only(path):
    import av

    with av.open(str(path), "w") as out:
        tone = out.add_stream("aac", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(tone.encode(frame))
        out.mux(tone.encode(None))
    return path


@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.mp4", "input not found"),
    (lambda d: d, "expected a video file, got a directory"),
    (lambda d: (d / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(20000)) and d / "noise.mp4",
     "cannot read"),
    (lambda d: _audio_only(d / "tone.m4a"), "expected a video stream"),
    (lambda d: _zero_frame_video(d / "empty.avi"), "decoded none"),
])
def test_bad_input_is_one_input_error_line(tmp_path, make, expected):
    path = make(tmp_path)
    with pytest.raises(InputError, match=expected) as caught:
        open_source(str(path), live=False)
    assert "\n" not in str(caught.value)


def test_threads_left_behind_none(megamind):
    before = threading.active_count()
    for _ in range(3):
        with open_source(str(megamind), live=False) as source:
            next(iter(source))
    assert threading.active_count() == before


# ------------------------------------------------------------------------------------------------------- camera

class FakeCapture:
    """Stands in for ``cv2.VideoCapture`` (no camera on this machine): delivers ``frames`` BGR images, each read
    taking ``period`` seconds like a camera's exposure, then fails as an unplugged camera does."""

    def __init__(self, frames=10, size=(64, 48), period=0.005, opened=True):
        self.left, self.size, self.period, self.opened = frames, size, period, opened
        self.count, self.props, self.released = 0, {}, False

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        return 25.0 if prop == 5 else 0.0  # 5: CAP_PROP_FPS

    def read(self):
        time.sleep(self.period)
        if self.left <= 0:
            return False, None
        self.left -= 1
        self.count += 1
        bgr = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        bgr[..., 0] = self.count % 256  # blue channel carries the frame number
        return True, bgr

    def release(self):
        self.released = True


def test_camera_grabber_converts_to_rgb_and_keeps_the_newest():
    fake = FakeCapture(frames=400, period=0.002)
    source = CameraSource("0", width=64, height=48, fps=25, capture_factory=lambda target: fake,
                          stall_timeout=0.5)
    with source:
        info = source.info
        frames = iter(source)
        first = next(frames)
        time.sleep(0.2)
        second = next(frames)
    assert (info.width, info.height, float(info.fps), info.frames, info.live) == (64, 48, 25.0, None, True)
    assert first.image[..., 2].max() > 0 and first.image[..., 0].max() == 0  # BGR became RGB
    assert second.index > first.index + 5  # frames read meanwhile were replaced, not queued
    assert fake.released and fake.props


def test_camera_that_stops_delivering_ends_with_a_clear_error():
    fake = FakeCapture(frames=5)
    with CameraSource("/dev/video7", capture_factory=lambda target: fake, stall_timeout=0.3) as source:
        with pytest.raises(SourceLostError, match="camera /dev/video7 stopped delivering frames"):
            for _ in source:
                pass


def test_camera_that_cannot_open_or_never_delivers_is_an_input_error():
    with pytest.raises(InputError, match="cannot open camera 3"):
        CameraSource("3", capture_factory=lambda target: FakeCapture(opened=False))
    with pytest.raises(InputError, match="delivered no frame"):
        CameraSource("3", capture_factory=lambda target: FakeCapture(frames=0), first_frame_timeout=0.3,
                     stall_timeout=0.2)


def test_open_source_sends_indices_devices_and_urls_to_the_camera_reader(monkeypatch):
    targets = []
    monkeypatch.setattr(camera, "_opencv_capture", lambda target: targets.append(target) or FakeCapture())
    for spec in ("0", "/dev/video2", "rtsp://127.0.0.1:8554/cam"):
        with open_source(spec, live=True) as source:
            assert isinstance(source, CameraSource)
    assert targets == [0, "/dev/video2", "rtsp://127.0.0.1:8554/cam"]


def test_real_opencv_without_that_device_is_an_input_error():
    with pytest.raises(InputError, match="cannot open camera /dev/video63"):
        open_source("/dev/video63", live=True)


def test_file_source_is_a_file_source(megamind):
    with open_source(str(megamind), live=False) as source:
        assert isinstance(source, FileSource)
