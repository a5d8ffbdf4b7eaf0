"""``u2live batch`` on one machine: the same clips with --jobs 1, --jobs 2 and --ray, side by side in one run.

Six real clips (scenes of Megamind.avi, with its audio, and of tree.avi, cut with FFmpeg) go through whole
``u2live batch`` processes (start-up, model loads and Ray's cluster start included: what a user waits for). The
configurations are interleaved over ``--rounds`` so that a change in the machine's load touches each alike; the
median wall time is reported with total FPS and the ratio to --jobs 1.

    python benchmarks/batch.py [--media DIR] [--rounds 2] [--out benchmarks/results/batch-cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
CONFIGS = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"], "--ray": ["--ray"]}
# (clip, start seconds, seconds): six scenes of about 2 s
CUTS = [("Megamind.avi", 0, 2), ("Megamind.avi", 2, 2), ("Megamind.avi", 4, 2), ("Megamind.avi", 6, 2),
        ("Megamind.avi", 8, 2), ("tree.avi", 0, 2)]


def make_clips(media: Path, folder: Path) -> list[int]:
    """The six clips in ``folder``; returns their frame counts."""
    import av

    frames = []
    for i, (name, start, seconds) in enumerate(CUTS):
        out = folder / f"clip{i}.mkv"
        # -ss after -i (decode from the start, cut exactly): seeking the input starts the audio 0.4 s after the
        # video, which u2live video's MP4 writer refuses ("Invalid argument"; a sink bug, reported separately)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(media / name), "-ss", str(start), "-t",
                        str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out)], check=True)
        with av.open(str(out)) as container:
            frames.append(sum(1 for _ in container.decode(video=0)))
    return frames


def processed_frames(clip_frames: list[int], extra: list[str]) -> int:
    """The frames a batch processes: every clip's, or at most --max-frames of each when that is among ``extra``."""
    limit = int(extra[extra.index("--max-frames") + 1]) if "--max-frames" in extra else None
    return sum(min(n, limit) if limit else n for n in clip_frames)


def run_once(config: list[str], inputs: Path, out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "u2live", "batch", str(inputs), "--out-dir", str(out), "-q", *config,
                    *extra], check=True, env=env, cwd=REPO)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "batch-cpu")
    parser.add_argument("extra", nargs="*", help="more u2live batch options, e.g. --precision int8")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from u2live.bench.machine import describe, finished, machine_info

    with tempfile.TemporaryDirectory(prefix="u2live-batch-bench-") as scratch:
        inputs = Path(scratch) / "in"
        inputs.mkdir()
        frames = processed_frames(make_clips(args.media, inputs), args.extra)
        times = {name: [] for name in CONFIGS}
        machine = machine_info()
        for _ in range(args.rounds):
            for name, config in CONFIGS.items():
                times[name].append(run_once(config, inputs, Path(scratch) / "out", args.extra))
                print(f"{name}: {times[name][-1]:.1f} s", file=sys.stderr)
    finished(machine)
    base = statistics.median(times["--jobs 1"])
    rows = [{"config": name, "seconds": [round(t, 1) for t in runs], "median_s": round(statistics.median(runs), 1),
             "fps": round(frames / statistics.median(runs), 2), "speedup": round(base / statistics.median(runs), 2)}
            for name, runs in times.items()]
    report = {"created": time.strftime("%Y-%m-%d %H:%M"), "machine": machine, "clips": len(CUTS),
              "frames": frames, "options": args.extra, "rows": rows}
    lines = [f"`python benchmarks/batch.py {' '.join(args.extra)}`, {report['created']}: {len(CUTS)} clips, "
             f"{frames} frames, whole `u2live batch` processes, {args.rounds} round(s), configurations interleaved; {describe(machine)}.",
             "", "| configuration | median wall s | total FPS | speed-up: --jobs 1 time / this time |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| `{r['config']}` | {r['median_s']} | {r['fps']} | {r['speedup']}x |" for r in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
