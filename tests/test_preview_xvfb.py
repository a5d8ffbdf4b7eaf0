"""The real preview window (pygame) on a real X server: Debian's Xvfb, installed by .ci/run. The window's pixels are
read back from the X server (FFmpeg's x11grab) and compared with the frames shown; ``u2live video --preview`` runs
to the end with the window open."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from u2live.frame import Frame
from u2live.images import read_rgb
from u2live.sinks import PreviewSink
from u2live.sinks.preview import draw_overlay

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (apt install xvfb; .ci/run does)")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def display(monkeypatch):
    """A fresh Xvfb server; DISPLAY points at it for this test."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()  # Xvfb writes its display number once it accepts clients
    monkeypatch.setenv("DISPLAY", f":{number}")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def grab(display: str, width: int, height: int, path: Path) -> np.ndarray:
    """The top-left width x height of the X screen, through FFmpeg's x11grab, as RGB."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "x11grab", "-video_size", f"{width}x{height}", "-i",
                    f"{display}+0,0", "-frames:v", "1", str(path)], check=True, timeout=30)
    return read_rgb(path)


def test_the_window_shows_the_frames_with_the_overlay(display, media_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEO_WINDOW_POS", "0,0")  # SDL centres new windows; no window manager moves them
    image = np.ascontiguousarray(read_rgb(media_dir / "baboon.jpg")[:240, :320])
    stop = threading.Event()
    with PreviewSink(stop, title="u2live test") as sink:
        for index in range(3):
            sink.write(Frame(image, index / 10, index, time.perf_counter()))
            time.sleep(0.05)
        shot = grab(display, 320, 240, tmp_path / "preview.png")
    if os.environ.get("U2LIVE_KEEP_SCREENSHOT"):  # to look at it
        shutil.copy(tmp_path / "preview.png", os.environ["U2LIVE_KEEP_SCREENSHOT"])
    assert not stop.is_set()
    expected = draw_overlay(image, 0.0, 0.0)
    below_overlay = (slice(60, 240), slice(0, 320))  # the frame itself, untouched by the text box
    assert np.abs(shot[below_overlay].astype(int) - expected[below_overlay]).mean() < 1.0
    assert shot[:20, :100].mean() < image[:20, :100].mean() - 20  # the dark overlay box with its text


def test_video_with_preview_runs_to_the_end(display, write_clip, tmp_path):
    clip = write_clip(tmp_path / "in.mp4", frames=6)
    done = subprocess.run([sys.executable, "-m", "u2live", "video", str(clip), "-o", str(tmp_path / "out.mp4"),
                           "--preview", "--backend", "torch", "--size", "160", "-q"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 0
