"""Check that ``u2live bench``'s pipeline FPS agrees with the wall clock of ``u2live video`` on the same clip.

    python benchmarks/check_pipeline_fps.py [CLIP] [--backend torch] [--frames N] [--tolerance 0.30] [--json OUT]

Runs ``u2live video CLIP -o tmp.mp4`` as a user would (a fresh process, timed from start to exit: imports, model
load, every frame, encoder flush) and ``u2live bench --input CLIP --only offline`` over every frame of the clip,
alternately, twice each, and compares the medians. Exit 1 when they differ by more than ``--tolerance``. Default
clip: opencv-doc's Megamind.avi (270 frames) when present, else a 96-frame synthetic clip.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent
MEGAMIND = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"


def count_frames(clip: Path) -> int:
    with av.open(str(clip)) as container:
        return sum(1 for _ in container.decode(video=0))


def video_fps(clip: Path, frames: int, backend: str, work: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "u2live", "video", str(clip), "-o", str(work / "out.mp4"), "--backend",
                    backend, "--max-frames", str(frames), "--quiet"], check=True)
    return frames / (time.perf_counter() - began)


def bench_fps(clip: Path, frames: int, backend: str, work: Path) -> float:
    out = work / "bench.json"
    subprocess.run([sys.executable, "-m", "u2live", "bench", "--input", str(clip), "--only", "offline",
                    "--no-reference", "--backend", backend, "--frames", str(frames), "--json", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    row = next(r for r in json.loads(out.read_text())["results"] if r.get("path") == "offline")
    if row["frames"] != frames:
        raise SystemExit(f"bench ran {row['frames']} frames, expected {frames}")
    return row["fps"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--tolerance", type=float, default=0.30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames (default: all)")
    parser.add_argument("--json", type=Path, help="write the figures and the machine here")
    args = parser.parse_args(argv)
    from u2live.bench.machine import finished, machine_info

    machine = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = args.clip or (MEGAMIND if MEGAMIND.is_file() else _synthetic(work))
        frames = min(count_frames(clip), args.frames or sys.maxsize)
        videos, benches = [], []
        for _ in range(args.repeats):  # alternate, so a change in machine load hits both sides
            videos.append(video_fps(clip, frames, args.backend, work))
            benches.append(bench_fps(clip, frames, args.backend, work))
    video, bench = statistics.median(videos), statistics.median(benches)
    ratio = bench / video
    ok = abs(ratio - 1.0) <= args.tolerance
    print(f"{clip.name}, {frames} frames, backend {args.backend}: u2live video {video:.3f} FPS (wall clock, "
          f"{videos}), u2live bench pipeline {bench:.3f} FPS ({benches}); bench FPS / video FPS {ratio:.3f} -> "
          f"{'agree' if ok else 'DISAGREE'} within {args.tolerance:.0%}")
    if args.json:

        args.json.write_text(json.dumps({
            "machine": finished(machine), "clip": clip.name,
            "frames": frames, "backend": args.backend, "video_wall_fps": videos, "bench_pipeline_fps": benches,
            "ratio_of_medians": round(ratio, 4), "tolerance": args.tolerance, "agree": ok}, indent=1) + "\n")
    return 0 if ok else 1


def _synthetic(work: Path) -> Path:
    from u2live.bench.clip import write_clip

    return write_clip(work / "synthetic.mp4", frames=96)


if __name__ == "__main__":
    sys.exit(main())
