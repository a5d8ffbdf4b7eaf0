"""``u2live video`` end to end on Megamind (real clip, AC-3 audio): frames, size, rate, audio, pixels, Ctrl-C.

The model runs at 160x160 and most runs stop at 24 frames to keep CPU time low; one run does the whole clip.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

SIZE = "160"
CUT = 24


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def probe(path):
    """(frames, width, height, average fps, audio seconds or None) of a video file, decoding every frame."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        audio = _audio_seconds(path)
        return frames, video.codec_context.width, video.codec_context.height, video.average_rate, audio


def _audio_seconds(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        samples = rate = 0
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
        return samples / rate if rate else None


def rgb_frames(path, count):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for _, f in zip(range(count), container.decode(video=0))]


@pytest.fixture(scope="module")
def megamind_fps(megamind):
    with av.open(str(megamind)) as container:
        return container.streams.video[0].average_rate


@pytest.fixture(scope="module")
def green_cut(megamind, tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "green.mp4"
    result = run_cli("video", megamind, "-o", out, "--bg", "color:0,255,0", "--max-frames", CUT, "--size", SIZE,
                     "--backend", "torch")
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.fixture(scope="module")
def matte_cut(megamind, tmp_path_factory):
    out = tmp_path_factory.mktemp("video") / "matte.mp4"
    result = run_cli("video", megamind, "-o", out, "--mode", "matte", "--max-frames", CUT, "--size", SIZE, "--quiet",
                     "--backend", "torch")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no bar, no summary
    return out


def test_cut_has_the_frames_size_rate_and_audio(green_cut, megamind_fps):
    out, result = green_cut
    frames, width, height, fps, audio = probe(out)
    assert (frames, width, height) == (CUT, 720, 528)
    assert abs(float(fps) - float(megamind_fps)) < 0.01
    assert audio is not None and abs(audio - CUT / float(megamind_fps)) <= 0.25
    summary = result.stderr.strip().splitlines()[-1]
    assert f"{CUT} frames" in summary and "FPS" in summary and "torch" in summary


def test_new_background_where_sure_of_background_original_where_sure_of_subject(megamind, green_cut, matte_cut):
    """The matte run gives the alpha each pixel got; where it is ~0 the output is green, where ~1 the input."""
    originals, greens, mattes = (rgb_frames(p, CUT) for p in (megamind, green_cut[0], matte_cut))
    checked_subject = 0
    for original, green, matte in zip(originals, greens, mattes):
        alpha = matte[..., 0]
        background, subject = alpha < 8, alpha > 247
        assert background.mean() > 0.2  # Megamind's room is mostly background
        assert np.abs(green[background] - [0, 255, 0]).mean() < 12  # H.264 error only
        if subject.sum() > 1000:
            checked_subject += 1
            assert np.abs(green[subject] - original[subject]).mean() < 12
    assert checked_subject >= CUT // 2


@pytest.mark.slow
def test_whole_clip_keeps_every_frame_and_the_audio(megamind, megamind_fps, tmp_path):
    out = tmp_path / "whole.mp4"
    result = run_cli("video", megamind, "-o", out, "--size", SIZE, "--bg", "blur", "--quiet")
    assert result.returncode == 0, result.stderr
    frames, width, height, fps, audio = probe(out)
    assert (frames, width, height) == (270, 720, 528)
    assert abs(audio - _demuxed_audio_seconds(megamind)) <= 0.25


def _demuxed_audio_seconds(path):
    """The end of the last audio packet (Megamind.avi's AC-3 has a packet FFmpeg will not decode)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return max(float((p.pts + p.duration) * stream.time_base) for p in container.demux(stream)
                   if p.pts is not None and p.duration)


def test_ctrl_c_leaves_a_playable_file_and_exits_130(megamind, tmp_path):
    """The frames so far, playable, under the partial name (a file's run that is interrupted is not complete)."""
    out = tmp_path / "interrupted.mp4"
    process = subprocess.Popen([sys.executable, "-m", "u2live", "video", str(megamind), "-o", str(out),
                                "--size", SIZE, "--quiet"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_frames(out, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    kept = tmp_path / "interrupted.partial.mp4"  # an interrupted run never takes the final name
    assert "Traceback" not in stderr and "error" not in stderr
    assert "u2live: stopped by Ctrl-C (SIGINT) (the " in stderr and f"are kept in {kept})" in stderr
    assert not out.exists()
    frames, width, height, _, _ = probe(kept)
    assert 0 < frames < 270 and (width, height) == (720, 528)


def _wait_for_frames(path, process, timeout=300):
    """Until the encoder has put some frames in the file (its size grows past a few tens of kB). The run writes
    ``<stem>.partial-xxxx<suffix>`` beside the target and moves it into place at the end (u2live.outputs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.stat().st_size > 40_000 for p in path.parent.glob(f"{path.stem}.partial-*{path.suffix}")):
            return
        time.sleep(0.2)
    raise AssertionError(f"no frames written before the deadline (exit code {process.poll()})")


def test_output_or_rtmp_is_required(megamind):
    result = run_cli("video", megamind)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "-o OUTPUT" in result.stderr


@pytest.mark.parametrize("args, expected", [
    (["missing.mp4", "-o", "{tmp}/x.mp4"], "missing.mp4"),
    (["{megamind}", "-o", "{tmp}/x.mp4", "--bg", "color:300,0,0"], "300"),
    (["{megamind}", "-o", "{tmp}/x.mp4", "--smoothing", "sometimes"], "sometimes"),
])
def test_bad_input_is_one_line(megamind, tmp_path, args, expected):
    args = [a.format(tmp=tmp_path, megamind=megamind) for a in args]
    result = run_cli("video", *args, "--size", SIZE)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("u2live: error:") and expected in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_file_and_rtmp_together(megamind, tmp_path, rtmp_server):
    out = tmp_path / "both.mp4"
    result = run_cli("video", megamind, "-o", out, "--rtmp", rtmp_server.url, "--max-frames", 12, "--size", SIZE,
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert probe(out)[0] == 12
    rtmp_server.wait()
    assert probe(rtmp_server.recording)[0] >= 0.95 * 12
