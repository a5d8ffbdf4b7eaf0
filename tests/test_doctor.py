"""``u2live doctor``: runs here, one sane line per check; the v4l2loopback and camera checks read a sysfs tree
(a fake one below: loading a kernel module is a boundary this machine cannot cross)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from u2live.commands.doctor import check_cameras, check_loopback, summarize_modes

REPO = Path(__file__).resolve().parent.parent
V4L2_CTL = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.100s (10.000 fps)
\t[1]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.033s (30.000 fps)
"""


def test_doctor_runs_here_with_one_line_per_check():
    done = subprocess.run([sys.executable, "-m", "u2live", "doctor"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr  # everything u2live video needs is here
    lines = done.stdout.splitlines()
    assert all(re.match(r"^(ok  |FAIL|info) [\w .-]+: \S", line) for line in lines), lines
    names = [line[5:].split(":")[0] for line in lines]
    for name in ("torch", "GPU", "auto", "torch-tensorrt", "ONNX Runtime", "H.264 encoder", "AAC encoder",
                 "cameras", "display", "cache"):
        assert name in names, names
    auto = next(line for line in lines if line[5:].startswith("auto:"))
    assert "-> cpu" in auto and "int8 for video" in auto and "not cuda:" in auto  # CPU-only torch here
    assert all(" -> fix: " in line for line in lines if line.startswith("FAIL"))
    caches = [line for line in lines if line.startswith("info cache: ")]
    assert caches and all(re.search(r" (\d+\.\d MiB in \d+ files|\(absent\))$", line) for line in caches), caches


def sysfs(tmp_path: Path, *, loaded: bool, caps: str | None, devices: dict[str, bool]) -> Path:
    """A sysfs tree: the v4l2loopback module (with its exclusive_caps parameter) and video devices,
    name -> is_loopback (a virtual device has no hardware 'device' link)."""
    root = tmp_path / "sys"
    if loaded:
        (root / "module" / "v4l2loopback" / "parameters").mkdir(parents=True)
        if caps is not None:
            (root / "module" / "v4l2loopback" / "parameters" / "exclusive_caps").write_text(caps + "\n")
    for index, (name, loopback) in enumerate(devices.items()):
        entry = root / "class" / "video4linux" / f"video{index}"
        entry.mkdir(parents=True)
        (entry / "name").write_text(name + "\n")
        if not loopback:
            (entry / "device").mkdir()
    return root


def test_loopback_missing_loaded_and_exclusive_caps(tmp_path):
    missing = check_loopback(sysfs(tmp_path / "a", loaded=False, caps=None, devices={}))
    assert missing.ok is False and "modprobe v4l2loopback" in missing.fix and "exclusive_caps=1" in missing.fix
    shared = check_loopback(sysfs(tmp_path / "b", loaded=True, caps="N", devices={"u2live": True}))
    assert shared.ok is False and "/dev/video0 (u2live)" in shared.detail and "exclusive_caps=1" in shared.fix
    good = check_loopback(sysfs(tmp_path / "c", loaded=True, caps="Y", devices={"Webcam": False, "u2live": True}))
    assert good.ok is True and good.detail.startswith("/dev/video1 (u2live)")


def test_cameras_are_the_non_loopback_devices(tmp_path):
    none = check_cameras(sysfs(tmp_path / "a", loaded=True, caps="Y", devices={"u2live": True}))
    assert none.ok is None and "--source" in none.detail
    one = check_cameras(sysfs(tmp_path / "b", loaded=True, caps="Y", devices={"Integrated Camera": False}))
    assert one.ok is True and one.detail.startswith("/dev/video0 Integrated Camera: ")


def test_camera_modes_from_v4l2_ctl():
    assert summarize_modes(V4L2_CTL) == "640x480@30,15 1280x720@10,30"
