"""``u2live webcam`` with a real clip standing in for the camera (no camera on CI machines)."""
from __future__ import annotations

import os
import subprocess
import sys

import av
import pytest

SIZE = "160"


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_file_standing_in_for_a_camera_records_a_playable_file(megamind, tmp_path):
    out = tmp_path / "webcam.mp4"
    result = run_cli("webcam", "--source", megamind, "--no-vcam", "-o", out, "--max-frames", 12, "--size", SIZE,
                     "--backend", "torch")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (528, 720, 3)
    summary = result.stderr.strip().splitlines()[-1]
    assert "12 frames" in summary and "FPS" in summary


def test_nothing_to_write_to_is_a_usage_error(megamind):
    result = run_cli("webcam", "--source", megamind, "--no-vcam")
    assert result.returncode == 2 and "nothing to write to" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_virtual_camera_is_on_by_default_and_names_v4l2loopback_when_missing(megamind):
    """On CI there is no /dev/video* loopback device: the default --vcam must fail with the set-up line."""
    pytest.importorskip("pyvirtualcam")
    if any(name.startswith("video") for name in os.listdir("/dev")):
        pytest.skip("a video device exists here; the missing-loopback message cannot be provoked")
    result = run_cli("webcam", "--source", megamind, "--max-frames", 2, "--size", SIZE, "--backend", "torch")
    assert result.returncode == 1, result.stderr
    assert "v4l2loopback" in result.stderr and "modprobe v4l2loopback exclusive_caps=1" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
