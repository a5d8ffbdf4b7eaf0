"""The README's main job, looked at: ``u2live video Megamind.avi -o OUT --bg fruits.jpg`` at its defaults, then chosen
frames of the result side by side with the source, for a person to look at (hair, shoulders, a second person).

    PYTHONPATH=. python benchmarks/main_job_frames.py [--frames 30,135,230] [--strip 100-140,225-236]

Writes ``benchmarks/results/main-job-frames.jpg`` (source above, result below, for --frames) and
``benchmarks/results/main-job-strip.jpg`` (every frame of each --strip range, small, result only).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data"
RESULTS = REPO / "benchmarks" / "results"


def frames_of(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    with av.open(str(path)) as clip:
        return {i: f.to_ndarray(format="rgb24") for i, f in enumerate(clip.decode(video=0)) if i in wanted}


def ranges(spec: str) -> list[int]:
    out = []
    for part in filter(None, spec.split(",")):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def grid(images: list[np.ndarray], columns: int, height: int) -> Image.Image:
    tiles = [Image.fromarray(im).resize((round(height * im.shape[1] / im.shape[0]), height)) for im in images]
    width = tiles[0].width
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height))
    for n, tile in enumerate(tiles):
        sheet.paste(tile, ((n % columns) * width, (n // columns) * height))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="30,135,230")
    parser.add_argument("--strip", default="100-140,225-236")
    args = parser.parse_args()
    source = DATA / "Megamind.avi"
    with tempfile.TemporaryDirectory(prefix="u2live-main-job-") as tmp:
        out = Path(tmp) / "megamind.mp4"
        done = subprocess.run([sys.executable, "-m", "u2live", "video", str(source), "-o", str(out), "--bg",
                               str(DATA / "fruits.jpg")], capture_output=True, text=True)
        print(done.stderr.strip())
        if done.returncode:
            raise SystemExit("the main job failed")
        picked, strip = ranges(args.frames), ranges(args.strip)
        result = frames_of(out, set(picked) | set(strip))
    original = frames_of(source, set(picked))
    grid([original[i] for i in picked] + [result[i] for i in picked], len(picked), 360).save(
        RESULTS / "main-job-frames.jpg", quality=85)
    grid([result[i] for i in strip], 9, 120).save(RESULTS / "main-job-strip.jpg", quality=80)
    print("wrote", RESULTS / "main-job-frames.jpg", RESULTS / "main-job-strip.jpg")


if __name__ == "__main__":
    main()
