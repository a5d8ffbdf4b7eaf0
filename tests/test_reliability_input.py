"""Bad input through the real CLI (a subprocess): one line ``u2live: error: ...``, a non-zero exit, no traceback.

Also what must *not* fail: a damaged but decodable clip, a truncated file, odd frame sizes (padded for the
encoder and v4l2, not refused), and an 8K image and 8K clip (peak RSS measured and bounded).
The model runs at 64x64 on the torch backend so each run is mostly start-up.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

SIZE = "64"
GiB = 1024 ** 3


def run_cli(*args, timeout=600):
    # One intra-op thread: on a shared, loaded machine torch's OpenMP barriers made runs ~20x slower.
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def assert_one_line_error(result, expected: str, code: int = 1) -> str:
    """The last stderr line is ``u2live: error: ...`` naming ``expected``; no traceback anywhere."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("u2live: error:")]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def frame_count(path) -> tuple[int, int, int]:
    """(frames, width, height), decoding every frame."""
    with av.open(str(path)) as container:
        frames = [f for f in container.decode(video=0)]
    return len(frames), frames[0].width, frames[0].height


# ------------------------------------------------------------------------------------------------- the media

@pytest.fixture(scope="module")
def media(tmp_path_factory, write_clip):
    """Broken and odd inputs, made once: each a real file of the kind a user may have."""
    root = tmp_path_factory.mktemp("bad-input")
    clip = write_clip(root / "clip.mp4", frames=12, fps=12, size=(96, 72))
    data = clip.read_bytes()
    (root / "half.mp4").write_bytes(data[: len(data) // 2])  # MP4 cut in half: the index (moov) is gone
    avi = _avi(root / "whole.avi", frames=48).read_bytes()
    (root / "half.avi").write_bytes(avi[: len(avi) // 2])  # AVI cut in half: the frames before the cut remain
    (root / "random.mp4").write_bytes(np.random.default_rng(6).bytes(100_000))
    (root / "not-an-image.png").write_text("this is text, not a picture\n")
    (root / "not-weights.pth").write_bytes(np.random.default_rng(7).bytes(5_000))
    _audio_only(root / "audio.m4a")
    _zero_frames(root / "zero.avi")
    write_clip(root / "odd.mp4", frames=6, fps=12, size=(321, 241), audio=False)
    return root


def _avi(path: Path, frames: int) -> Path:
    """MPEG-4 Part 2 in AVI, one time-base tick per frame (so the header counts frames, as cameras write it)."""
    rng = np.random.default_rng(8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 96, 72, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (72, 96, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000, layout="mono")
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _zero_frames(path: Path) -> None:
    """An AVI with a video stream and no frame in it (MP4 and MKV writers drop an empty track)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: a read-only folder, or /sys when running as root
    (root ignores permission bits; sysfs refuses new files even to root)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


# ------------------------------------------------------------------------------------------- one-line errors

BAD_INPUT = [  # (id, arguments after ``video``, text the error line names, exit code)
    ("missing-input", ["{root}/missing.mp4", "-o", "{tmp}/x.mp4"], "input not found", 1),
    ("random-bytes", ["{root}/random.mp4", "-o", "{tmp}/x.mp4"], "cannot read", 1),
    ("mp4-cut-in-half", ["{root}/half.mp4", "-o", "{tmp}/x.mp4"], "cannot read", 1),
    ("no-video-stream", ["{root}/audio.m4a", "-o", "{tmp}/x.mp4"], "expected a video stream", 1),
    ("zero-frames", ["{root}/zero.avi", "-o", "{tmp}/x.mp4"], "decoded none", 1),
    ("bg-missing", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--bg", "{root}/nothere.jpg"], "does not exist", 1),
    ("bg-not-an-image", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--bg", "{root}/not-an-image.png"],
     "not-an-image.png", 1),
    ("colour-out-of-range", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--bg", "color:300,0,0"], "0 to 255", 1),
    ("colour-two-numbers", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--bg", "color:1,2"], "three", 1),
    # a missing folder is created (issue 9: -o newdir/...); one that cannot be is one line
    ("output-folder-impossible", ["{root}/clip.mp4", "-o", "/proc/u2live-no/x.mp4"], "cannot create the folder", 1),
    ("size-too-large", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--size", "4096"], "at most 1024", 1),
    ("output-unknown-format", ["{root}/clip.mp4", "-o", "{tmp}/x.xyz"], "unknown output format", 1),
    ("unknown-backend", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--backend", "nope"], "'--backend'", 2),
    ("unknown-precision", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--precision", "fp8"], "'--precision'", 2),
    ("size-not-multiple-of-32", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--size", "65"], "multiple of 32", 1),
    ("size-zero", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--size", "0"], "multiple of 32", 1),
    ("size-negative", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--size", "-64"], "multiple of 32", 1),
    ("weights-random-bytes", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--weights", "{root}/not-weights.pth"],
     "not a PyTorch weights file", 1),
    ("weights-an-image", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--weights", "{root}/not-an-image.png"],
     "not-an-image.png", 1),
    ("weights-missing", ["{root}/clip.mp4", "-o", "{tmp}/x.mp4", "--weights", "{root}/nothere.pth"],
     "not found", 1),
    ("rtmp-nothing-listening", ["{root}/clip.mp4", "--rtmp", "rtmp://127.0.0.1:{port}/live/x"], "refused", 1),
]


@pytest.mark.parametrize("args, expected, code", [case[1:] for case in BAD_INPUT],
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_one_line_and_a_non_zero_exit(media, tmp_path, unused_port, args, expected, code):
    args = [a.format(root=media, tmp=tmp_path, port=unused_port) for a in args]
    args += [] if "--size" in args else ["--size", SIZE]
    args += [] if "--backend" in args else ["--backend", "torch"]
    result = run_cli("video", *args, "--quiet")
    assert_one_line_error(result, expected, code)


def test_output_in_a_folder_that_cannot_be_written_is_one_line(media, tmp_path):
    target = unwritable_dir(tmp_path) / "x.mp4"
    result = run_cli("video", media / "clip.mp4", "-o", target, "--size", SIZE, "--backend", "torch", "--quiet")
    assert_one_line_error(result, f"cannot write {target}")
    assert not target.exists()


def test_webcam_with_a_missing_camera_file_is_one_line(tmp_path):
    result = run_cli("webcam", "--source", tmp_path / "gone.mp4", "--no-vcam", "-o", tmp_path / "x.mp4",
                     "--size", SIZE, "--quiet")
    assert_one_line_error(result, "input not found")


@pytest.fixture
def unused_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------------------------------ damaged but usable input

def test_damaged_clip_megamind_bugy_is_processed(media_dir, tmp_path):
    """Megamind_bugy.avi's damage is in its headers and bitstream; FFmpeg conceals it: the frames still come."""
    out = tmp_path / "bugy.mp4"
    result = run_cli("video", media_dir / "Megamind_bugy.avi", "-o", out, "--max-frames", 2, "--size", SIZE,
                     "--backend", "torch", "--bg", "color:0,0,255", "--smoothing", "none", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert frame_count(out) == (2, 720, 528)


def test_truncated_avi_keeps_the_frames_before_the_cut_and_says_so(media, tmp_path):
    out = tmp_path / "half.mp4"
    result = run_cli("video", media / "half.avi", "-o", out, "--size", SIZE, "--backend", "torch", "--quiet")
    assert result.returncode == 0, result.stderr
    frames = frame_count(out)[0]
    assert 0 < frames < 48
    assert f"ended after {frames} of the 48 frames" in result.stderr and "truncated" in result.stderr


# ------------------------------------------------------------------------------------------------ odd sizes

def test_odd_frame_size_is_padded_for_a_file(media, tmp_path):
    out = tmp_path / "odd.mp4"
    result = run_cli("video", media / "odd.mp4", "-o", out, "--size", SIZE, "--backend", "torch", "--quiet")
    assert result.returncode == 0, result.stderr
    assert frame_count(out) == (6, 322, 242)  # padded to even for yuv420p, every frame kept


VCAM_RECORDER = textwrap.dedent("""
    import json, sys
    import pyvirtualcam

    class RecordingBackend:
        '''A pyvirtualcam backend that records the shapes it is sent (no v4l2loopback on CI machines).'''
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            self.width, self.height, self.fourcc, self.shapes = width, height, fourcc, []
        def send(self, frame):
            self.shapes.append(frame.size)  # pyvirtualcam hands the backend a flat buffer
        def close(self):
            json.dump({"size": [self.width, self.height], "shapes": self.shapes}, open(sys.argv[1], "w"))
        def device(self):
            return "recording"
        def native_fourcc(self):
            return self.fourcc

    pyvirtualcam.register_backend("u2live-test-recording", RecordingBackend)
    from u2live.cli import main
    main(sys.argv[2:], prog_name="u2live")
""")


def test_odd_frame_size_is_padded_for_the_virtual_camera(media, tmp_path):
    """The real ``webcam --vcam`` path; pyvirtualcam's real Camera falls through to a recording backend."""
    pytest.importorskip("pyvirtualcam")
    import json

    record = tmp_path / "vcam.json"
    result = subprocess.run([sys.executable, "-c", VCAM_RECORDER, str(record), "webcam", "--source",
                             str(media / "odd.mp4"), "--vcam", "--size", SIZE, "--backend", "torch", "--quiet"],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    got = json.loads(record.read_text())
    assert got["size"] == [322, 242]
    assert got["shapes"] and all(size == 242 * 322 * 3 for size in got["shapes"])  # RGB, padded to even


# --------------------------------------------------------------------------------------------------------- 8K

def peak_rss_of(args: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    """Runs the CLI in a fresh child of a fresh Python, so the child's peak RSS is not mixed with this one's."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")
    done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "u2live", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    code, peak = map(int, done.stdout.split())
    return subprocess.CompletedProcess(args, code, "", done.stderr), peak


@pytest.fixture(scope="module")
def picture_8k(tmp_path_factory) -> np.ndarray:
    """7680x4320 RGB: a textured room with a warm block standing in for a person."""
    yy, xx = np.mgrid[0:4320, 0:7680]
    image = np.stack([(xx // 30) % 256, (yy // 17) % 256, ((xx + yy) // 50) % 256], -1).astype(np.uint8)
    image[1080:3240, 2560:5120] = (220, 180, 150)
    return image


def test_8k_image_segments_within_bounded_memory(picture_8k, tmp_path):
    path = tmp_path / "8k.jpg"
    Image.fromarray(picture_8k).save(path, quality=85)
    result, peak = peak_rss_of(["segment", path, "-d", tmp_path / "masks", "--size", SIZE, "--backend", "torch",
                                "--quiet"])
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "masks" / "8k.png") as mask:
        assert mask.size == (7680, 4320)
    print(f"8K segment peak RSS: {peak / 2**20:.0f} MiB")
    assert peak < 4 * GiB


@pytest.mark.slow
def test_8k_clip_through_the_pipeline_within_bounded_memory(picture_8k, tmp_path):
    clip, out = tmp_path / "8k.mp4", tmp_path / "8k-out.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=2, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 7680, 4320, "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(picture_8k, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    result, peak = peak_rss_of(["video", clip, "-o", out, "--size", SIZE, "--backend", "torch", "--bg", "blur",
                                "--quiet"])
    assert result.returncode == 0, result.stderr
    assert frame_count(out) == (2, 7680, 4320)
    print(f"8K pipeline peak RSS: {peak / 2**20:.0f} MiB")
    assert peak < 6 * GiB
