"""Issue 21, class 1: every file a command writes goes through u2live.outputs, and every file it reads (the
input, --bg, --weights, ground truth) counts as an input, so no command can write over one of its inputs.

Each case is the real CLI in a subprocess, pointed at a folder of real files whose SHA-256 are taken before and
after: a refused run changes nothing, creates nothing, and says why in one line. Every case is refused before
the model loads.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

FAST = ("--size", "64", "--backend", "cpu")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "PYTHONPATH": str(Path.cwd())})


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: SHA-256} of every file under ``folder``."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def work(tmp_path, write_clip, reference_dir):
    """A user's folder: a clip, ground truth and images for eval, a background picture inside an output folder."""
    write_clip(tmp_path / "clip.mp4", frames=6)
    for folder in ("gt", "images"):
        (tmp_path / folder).mkdir()
    photo = sorted((reference_dir / "test_images").iterdir())[0]
    Image.open(photo).resize((64, 48)).save(tmp_path / "images" / "a.png")
    Image.new("L", (64, 48), 255).save(tmp_path / "gt" / "a.png")
    (tmp_path / "out").mkdir()
    Image.open(photo).resize((64, 48)).save(tmp_path / "out" / "000001.png")  # a picture among frame names
    Image.open(photo).resize((64, 48)).save(tmp_path / "out" / "a.png")
    return tmp_path


CASES = {  # what a user types, in the folder ``work``; the words the one line must say
    "bench: --json names the clip it measures": (
        ["bench", "--input", "clip.mp4", "--json", "clip.mp4", "--only", "model", "--frames", "1"],
        ["clip.mp4", "--input clip"]),
    "eval: --json and --plot on one name": (
        ["eval", "--gt", "gt", "--pred", "images", "--json", "report", "--plot", "report"],
        ["--json and --plot would both be written to report"]),
    "segment: --bg names one of its own outputs": (
        ["segment", "images/a.png", "-d", "out", "--format", "cutout", "--bg", "out/a.png"],
        ["out/a.png", "the background"]),
    "video: PNG frames into the folder holding --bg": (
        ["video", "clip.mp4", "-o", "out/", "--bg", "out/000001.png"],
        ["out/000001.png", "the background"]),
    "video: a PNG pattern whose frame names include --bg": (
        ["video", "clip.mp4", "-o", "out/%06d.png", "--bg", "out/000001.png"],
        ["out/000001.png", "the background"]),
    "video: PNG frames over a symbolic link to --bg": (
        ["video", "clip.mp4", "-o", "out/", "--bg", "bg-link.png"],
        ["bg-link.png", "the background"]),
    "batch: an output lands on --bg": (
        ["batch", "clip.mp4", "-d", ".", "--suffix", ".png", "--bg", "clip.png", "--redo"],
        ["clip.png", "the background"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_command_writes_over_a_file_it_reads(case, work):
    args, words = CASES[case]
    if "bg-link.png" in args:
        (work / "bg-link.png").symlink_to(work / "out" / "000001.png")
    if "clip.png" in args:
        Image.new("RGB", (96, 72), (0, 128, 0)).save(work / "clip.png")
    before = snapshot(work)
    result = run_cli(*args, *FAST, cwd=work)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("u2live: error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert snapshot(work) == before  # nothing changed, nothing new (no stub, no temporary left)
