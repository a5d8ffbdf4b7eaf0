"""``u2live video`` at its default settings beside the authors' model alone under ONNX Runtime and beside ``rembg``,
on the same frames, side by side in one run (issue 15, "Offline benefits too").

- **reference**: the official ``u2netp.onnx`` (rembg's file, from ``.cache/rembg``) under ONNX Runtime, 2 threads,
  model calls alone over the clip's frames (decoding and preprocessing excluded: the most generous reference);
- **u2live video**: ``python -m u2live video CLIP -o out.mp4`` with every default (backend auto -> cpu, INT8,
  smoothing, guided refinement, blurred background, H.264 encode, audio kept), start-up included, as a subprocess;
  ``--variant "--precision fp32"`` (repeatable) adds rows of ``u2live video`` with those options;
- **rembg**: ``rembg b W H -m u2netp -o frame%04d.png`` fed the same frames as raw RGB24 on stdin by ``ffmpeg``
  (its documented way to take a frame stream), start-up included; it writes RGBA cut-outs, no video and no audio.
  rembg is not a dependency: install it into a separate environment and pass its ``rembg`` executable; it reads
  ``u2netp.onnx`` from ``.cache/rembg/rembg`` (``U2NET_HOME``; the file's md5 matches, so nothing is downloaded)::

      python -m venv /tmp/rembg && /tmp/rembg/bin/pip install "rembg[cli]" onnxruntime

Each round runs every row in turn (interleaved, so load from other processes hits each alike); ratios use each row's
median over ``--rounds``. Both wall-clock and CPU seconds (this process's plus its children's: ONNX Runtime's
threads, u2live's decoder/encoder threads, rembg and its ffmpeg feeder) are recorded: on a shared machine the CPU
ratio is the steadier one. The machine (CPU, vector instructions, load average before and after) is recorded. Writes
``benchmarks/results/offline-vs-rembg.json`` and ``.md``.

    python benchmarks/offline_vs_rembg.py --rembg /tmp/rembg/bin/rembg [--frames 48] [--rounds 2] \
        [--variant "--precision fp32"] [--variant "--size 256"]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live.backends.onnx_runtime import session  # noqa: E402
from u2live.bench.machine import describe, finished, machine_info  # noqa: E402
from u2live.preprocess import to_model_input  # noqa: E402

MEGAMIND = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
REMBG_ONNX = REPO / ".cache/rembg/rembg/u2netp.onnx"


def decoded(clip: Path, n: int) -> list[np.ndarray]:
    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), container.decode(video=0))]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``run()``: this process's CPU plus that of the children it waited for."""
    wall, cpu = time.perf_counter(), time.process_time() + cpu_of_children()
    run()
    return time.perf_counter() - wall, time.process_time() + cpu_of_children() - cpu


def reference_run(images: list[np.ndarray]):
    """The official model alone (2 threads, warmed up), preprocessing done beforehand: the most generous reference."""
    ref = session(REMBG_ONNX, threads=2)
    name = ref.get_inputs()[0].name
    inputs = [to_model_input([im], 320) for im in images]
    ref.run(None, {name: inputs[0]})
    return lambda: [ref.run(None, {name: x}) for x in inputs]


def u2live_run(clip: Path, n: int, out: Path, extra: list[str], summaries: list[str]):
    command = [sys.executable, "-m", "u2live", "video", str(clip), "-o", str(out / "u2live.mp4"),
               "--max-frames", str(n), *extra]

    def run():
        done = subprocess.run(command, check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        summaries.append([line for line in done.stderr.splitlines() if " frames in " in line][-1])
    return run


def rembg_run(rembg: str, clip: Path, n: int, size: tuple[int, int], out: Path):
    frames_dir = out / "rembg"

    def run():
        frames_dir.mkdir(exist_ok=True)
        decoder = subprocess.Popen(["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", str(n), "-f", "rawvideo",
                                    "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
        subprocess.run([rembg, "b", str(size[0]), str(size[1]), "-m", "u2netp", "-o",
                        str(frames_dir / "frame%04d.png")], stdin=decoder.stdout, check=True, capture_output=True,
                       env={**os.environ, "U2NET_HOME": str(REMBG_ONNX.parent)})
        decoder.wait()
        written = len(list(frames_dir.glob("*.png")))
        if written != n:
            raise SystemExit(f"rembg wrote {written} frames, expected {n}")
    return run


def measure(rembg: str, clip: Path, n: int, rounds: int, variants: list[str]) -> dict:
    images = decoded(clip, n)
    size = (images[0].shape[1], images[0].shape[0])
    names = ["reference", "u2live", *[f"u2live {v}" for v in variants], "rembg"]
    times: dict[str, list[list[float]]] = {name: [] for name in names}  # name -> [[wall, cpu] per round]
    summaries: dict[str, list[str]] = {name: [] for name in names if name.startswith("u2live")}
    with tempfile.TemporaryDirectory() as tmp:  # one frame each, untimed: exports and calibrations are cached first
        for name in summaries:
            u2live_run(clip, 1, Path(tmp), name.split()[1:], [])()
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runs = {"reference": reference_run(images), "rembg": rembg_run(rembg, clip, n, size, Path(tmp))}
            for name in summaries:
                runs[name] = u2live_run(clip, n, Path(tmp), name.split()[1:], summaries[name])
            for name in names:
                times[name].append(list(timed(runs[name])))
                print(name, [round(t, 1) for t in times[name][-1]], flush=True)
    median = {name: np.median(np.array(t), axis=0).tolist() for name, t in times.items()}  # [wall, cpu]
    ratio = lambda a, b, i: median[a][i] / median[b][i]  # noqa: E731
    return {"frames": n, "clip": clip.name, "rounds": rounds, "seconds_wall_cpu": times,
            "median_wall_cpu": median, "summaries": summaries,
            "over_reference": {name: [ratio(name, "reference", 0), ratio(name, "reference", 1)] for name in names},
            "rembg_over_u2live": [ratio("rembg", "u2live", 0), ratio("rembg", "u2live", 1)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rembg", required=True, help="the rembg executable of a separate environment")
    parser.add_argument("--clip", type=Path, default=MEGAMIND)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", action="append", default=[], help="options of an extra u2live video row")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "offline-vs-rembg")
    args = parser.parse_args()
    machine = machine_info()
    result = measure(args.rembg, args.clip, args.frames, args.rounds, args.variant)
    result.update(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=finished(machine), command=shlex.join(["python", *sys.argv]),
                  rembg=subprocess.run([args.rembg, "--version"], capture_output=True, text=True).stdout.strip())
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(report(result))
    print(report(result))


LABELS = {"reference": "reference: official u2netp.onnx, ONNX Runtime, model calls alone",
          "u2live": "u2live video, defaults (int8, blur, H.264 + audio)",
          "rembg": "rembg b -m u2netp (PNG cut-outs, no audio)"}


def report(result: dict) -> str:
    rows = "".join(f"| {LABELS.get(name, name)} | {wall:.1f} | {cpu:.1f} | {result['over_reference'][name][0]:.2f} | "
                   f"{result['over_reference'][name][1]:.2f} |\n"
                   for name, (wall, cpu) in result["median_wall_cpu"].items())
    wall, cpu = result["rembg_over_u2live"]
    return (f"`{result['command']}`, {result['date']}, {describe(result['machine'])}; {result['frames']} frames of {result['clip']}, {result['rounds']} interleaved rounds, medians:\n\n"
            f"| run | wall s | CPU s | wall x reference | CPU x reference |\n|---|---:|---:|---:|---:|\n{rows}"
            f"\nrembg takes {wall:.2f}x the wall time and {cpu:.2f}x the CPU time of u2live video. "
            f"u2live's own summary: {result['summaries']['u2live'][-1]}\n")


if __name__ == "__main__":
    main()
