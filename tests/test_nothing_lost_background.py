"""Issue 9: a background video stored sideways with rotation metadata (a phone clip) is placed upright, as the
main input is (u2live.sources turns frames the same way)."""
from __future__ import annotations

import subprocess

import numpy as np

from u2live.backgrounds import parse_background
from u2live.sources import open_source


def test_rotated_background_video_is_upright(write_clip, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=4, size=(96, 64))
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", clip, "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    rotated], check=True)
    with open_source(str(rotated), live=False) as source:
        upright = next(iter(source)).image  # [96, 64, 3]: the source turns it for display
    assert upright.shape == (96, 64, 3)
    spec = parse_background(str(rotated))
    background = spec.open(64, 96)
    try:
        layer = background.render(np.zeros((96, 64, 3), np.uint8), np.zeros((96, 64), np.float32), 0.0)
    finally:
        background.close()
    assert layer.shape == (96, 64, 3)
    assert np.abs(layer.astype(int) - upright.astype(int)).mean() < 3  # the same picture, not sideways
