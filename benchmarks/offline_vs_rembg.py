"""``u2live video`` at its default settings beside the authors' model alone under ONNX Runtime and beside ``rembg``,
on the same frames, side by side in one run (issue 15, "Offline benefits too").

- **reference**: the official ``u2netp.onnx`` (rembg's file, from ``.cache/rembg``) under ONNX Runtime, 2 threads,
  model calls alone over the clip's frames (decoding and preprocessing excluded: the most generous reference);
- **u2live video**: ``python -m u2live video CLIP -o out.mp4`` with every default (backend auto -> cpu, INT8,
  smoothing, guided refinement, blurred background, H.264 encode, audio kept), start-up included, as a subprocess;
- **rembg**: ``rembg b W H -m u2netp -o frame%04d.png`` fed the same frames as raw RGB24 on stdin by ``ffmpeg``
  (its documented way to take a frame stream), start-up included; it writes RGBA cut-outs, no video and no audio.
  rembg is not a dependency: install it into a separate environment and pass its ``rembg`` executable, with
  ``u2netp.onnx`` copied into ``~/.u2net/`` so it downloads nothing::

      python -m venv /tmp/rembg && /tmp/rembg/bin/pip install "rembg[cpu,cli]"
      mkdir -p ~/.u2net && cp .cache/rembg/rembg/u2netp.onnx ~/.u2net/

Rounds run reference, u2live, rembg in turn, ``--rounds`` times (interleaved, so load from other processes hits
each alike); ratios use each one's median. ``/proc/loadavg`` is recorded before and after. Writes
``benchmarks/results/offline-vs-rembg.json`` and ``.md``.

    python benchmarks/offline_vs_rembg.py --rembg /tmp/rembg/bin/rembg [--frames 96] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from cpu_backends import reference_total  # noqa: E402  the official model alone, ORT 2 threads, after a warm-up

MEGAMIND = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"


def decoded(clip: Path, n: int) -> list[np.ndarray]:
    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), container.decode(video=0))]


def u2live_seconds(clip: Path, n: int, out: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "u2live", "video", str(clip), "-o", str(out / "u2live.mp4"),
               "--max-frames", str(n)]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.perf_counter() - started
    return seconds, [line for line in done.stderr.splitlines() if " frames in " in line][-1]


def rembg_seconds(rembg: str, clip: Path, n: int, size: tuple[int, int], out: Path) -> float:
    frames_dir = out / "rembg"
    frames_dir.mkdir(exist_ok=True)
    started = time.perf_counter()
    decoder = subprocess.Popen(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", str(n), "-f", "rawvideo",
                                "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    subprocess.run([rembg, "b", str(size[0]), str(size[1]), "-m", "u2netp", "-o",
                    str(frames_dir / "frame%04d.png")], stdin=decoder.stdout, check=True, capture_output=True)
    decoder.wait()
    seconds = time.perf_counter() - started
    written = len(list(frames_dir.glob("*.png")))
    if written != n:
        raise SystemExit(f"rembg wrote {written} frames, expected {n}")
    return seconds


def measure(rembg: str, clip: Path, n: int, rounds: int) -> dict:
    images = decoded(clip, n)
    size = (images[0].shape[1], images[0].shape[0])
    times: dict[str, list[float]] = {"reference": [], "u2live": [], "rembg": []}
    summaries = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            times["reference"].append(reference_total(images))
            seconds, summary = u2live_seconds(clip, n, Path(tmp))
            times["u2live"].append(seconds)
            summaries.append(summary)
            times["rembg"].append(rembg_seconds(rembg, clip, n, size, Path(tmp)))
        print(json.dumps({k: v[-1] for k, v in times.items()}), flush=True)
    median = {k: float(np.median(v)) for k, v in times.items()}
    return {"frames": n, "clip": clip.name, "rounds": rounds, "seconds": times, "median_seconds": median,
            "u2live_over_reference": median["u2live"] / median["reference"],
            "rembg_over_u2live": median["rembg"] / median["u2live"], "u2live_summaries": summaries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rembg", required=True, help="the rembg executable of a separate environment")
    parser.add_argument("--clip", type=Path, default=MEGAMIND)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "offline-vs-rembg")
    args = parser.parse_args()
    load = [Path("/proc/loadavg").read_text().split()[:3]]
    result = measure(args.rembg, args.clip, args.frames, args.rounds)
    load.append(Path("/proc/loadavg").read_text().split()[:3])
    result.update(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg_before=load[0],
                  loadavg_after=load[1], rembg=subprocess.run([args.rembg, "--version"], capture_output=True,
                                                              text=True).stdout.strip())
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["median_seconds"]
    text = (f"`python benchmarks/offline_vs_rembg.py`, {result['date']}, 2-core AMD EPYC (AVX2) shared with other "
            f"jobs, load average {' '.join(load[0])} before, {' '.join(load[1])} after; {args.frames} frames of "
            f"{result['clip']}, {args.rounds} interleaved rounds, median seconds:\n\n"
            f"| run | s | x reference |\n|---|---:|---:|\n"
            f"| reference: official u2netp.onnx, ONNX Runtime, model calls alone | {m['reference']:.1f} | 1.00 |\n"
            f"| u2live video, defaults (int8, blur, H.264 + audio) | {m['u2live']:.1f} | "
            f"{result['u2live_over_reference']:.2f} |\n"
            f"| rembg b -m u2netp (PNG cut-outs, no audio) | {m['rembg']:.1f} | {m['rembg'] / m['reference']:.2f} |\n"
            f"\nrembg takes {result['rembg_over_u2live']:.2f}x the time of u2live video. "
            f"u2live's own summary: {result['u2live_summaries'][-1]}\n")
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
