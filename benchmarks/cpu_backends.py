"""CPU engines side by side on real frames, and ``u2live video`` end to end against the issue-4 reference.

Reference: ONNX Runtime (2 threads) on the official ``u2netp.onnx`` alone. Model-only rows time each engine per
frame, round-robin over the same Megamind frames (so contention from other processes hits every engine alike).
End-to-end rows time ``u2live video`` (decode, model, smoothing, compositing, H.264 encode, audio) as a subprocess,
bracketed by two reference runs over the same frames. Writes ``benchmarks/results/cpu-<stamp>.json`` and ``.md``.

    python benchmarks/cpu_backends.py [--frames 270] [--no-video]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from u2live import backends
from u2live.backends.onnx_runtime import session
from u2live.bench.machine import describe, finished, machine_info
from u2live.preprocess import to_model_input

REPO = Path(__file__).resolve().parent.parent
MEGAMIND = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
REMBG = REPO / ".cache/rembg/rembg/u2netp.onnx"


def frames(n: int) -> list[np.ndarray]:
    with av.open(str(MEGAMIND)) as container:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), container.decode(video=0))]


def engines(size: int) -> dict:
    """name -> callable([1, 3, S, S] float32)."""
    reference = session(REMBG, threads=2)
    name = reference.get_inputs()[0].name
    out = {"ort-reference (official u2netp.onnx, 2 threads)": lambda x: reference.run(None, {name: x})}
    torch.set_num_threads(2)
    out["torch eager fp32 channels_last"] = backends.create("torch", size=size).infer
    graphs = {}
    for precision in ("fp32", "int8"):
        segmenter = backends.create("cpu", size=size, precision=precision)
        out[f"cpu {precision}"] = segmenter.infer
        graphs[precision] = segmenter.graph_path
    out.update(openvino_engines(size, graphs["int8"]))
    return out


def openvino_engines(size: int, int8_graph) -> dict:
    """Intel's OpenVINO on the same graphs, when installed (``pip install openvino``; not a dependency): a second
    CPU runtime, to tell our graph's limits from ONNX Runtime's. Empty without it."""
    try:
        import openvino
    except ImportError:
        return {}
    core = openvino.Core()
    config = {"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY"}
    out = {}
    version = openvino.__version__.split("-")[0]
    for label, graph in ((f"openvino {version} fp32 (official u2netp.onnx, 2 threads)", REMBG),
                         (f"openvino {version} int8 (our QDQ graph at {size}, 2 threads)", int8_graph)):
        request = core.compile_model(str(graph), "CPU", config).create_infer_request()
        out[label] = lambda x, request=request: request.infer({0: x})
    return out


def model_only(images, size: int) -> dict[str, float]:
    """Median ms per frame of each engine, interleaved frame by frame (the reference always at its fixed 320)."""
    inputs = [(to_model_input([im], size), to_model_input([im], 320)) for im in images]
    runs = engines(size)
    pick = {name: 1 if "official u2netp.onnx" in name else 0 for name in runs}  # those take 320 only
    for name, run in runs.items():  # warm-up
        run(inputs[0][pick[name]])
    times = {name: [] for name in runs}
    for x in inputs:
        for name, run in runs.items():
            start = time.perf_counter()
            run(x[pick[name]])
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(t)) for name, t in times.items()}


def reference_total(images) -> float:
    """Seconds for the official model alone over ``images`` (preprocessing excluded: the bar's reference)."""
    ref = session(REMBG, threads=2)
    name = ref.get_inputs()[0].name
    inputs = [to_model_input([im], 320) for im in images]
    ref.run(None, {name: inputs[0]})
    start = time.perf_counter()
    for x in inputs:
        ref.run(None, {name: x})
    return time.perf_counter() - start


def video_total(n: int, precision: str, out_dir: Path) -> float:
    command = [sys.executable, "-m", "u2live", "video", str(MEGAMIND), "-o", str(out_dir / f"{precision}.mp4"),
               "--backend", "cpu", "--precision", precision, "--max-frames", str(n)]
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    STAGE_LINES[precision] = [line for line in done.stderr.splitlines() if " frames in " in line][-1:]  # the one-line summary
    return seconds


STAGE_LINES: dict[str, list[str]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=270)
    parser.add_argument("--model-frames", type=int, default=24)
    parser.add_argument("--sizes", default="320,256,192")
    parser.add_argument("--no-video", action="store_true")
    args = parser.parse_args()
    machine = machine_info()
    result = {"machine": machine, "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
              "model_ms_per_frame": {}}
    images = frames(max(args.frames, args.model_frames))
    for size in map(int, args.sizes.split(",")):
        result["model_ms_per_frame"][size] = model_only(images[:args.model_frames], size)
        print(size, json.dumps(result["model_ms_per_frame"][size]), flush=True)
    if not args.no_video:
        backends.create("cpu", size=320, precision="int8")  # calibrated once, outside the timed runs
        with tempfile.TemporaryDirectory() as tmp:
            e2e = {"reference before": reference_total(images[:args.frames])}
            for precision in ("fp32", "int8"):
                e2e[f"u2live video cpu {precision}"] = video_total(args.frames, precision, Path(tmp))
            e2e["reference after"] = reference_total(images[:args.frames])
        ref = (e2e["reference before"] + e2e["reference after"]) / 2
        result["end_to_end_s"] = {"frames": args.frames, **e2e,
                                  "ratio fp32": e2e["u2live video cpu fp32"] / ref,
                                  "ratio int8": e2e["u2live video cpu int8"] / ref, "stages": STAGE_LINES}
        print(json.dumps(result["end_to_end_s"]), flush=True)
    finished(machine)
    write(result)


def write(result: dict) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = REPO / "benchmarks" / "results"
    (out / f"cpu-{stamp}.json").write_text(json.dumps(result, indent=2))
    lines = [f"# CPU engines ({describe(result['machine'])}; torch {result['torch']}, onnxruntime "
             f"{result['onnxruntime']})", "", "Model only, median ms/frame, interleaved on the same Megamind frames:",
             "", "| size | engine | ms/frame | vs reference |", "|---|---|---|---|"]
    for size, rows in result["model_ms_per_frame"].items():
        ref = rows["ort-reference (official u2netp.onnx, 2 threads)"]
        lines += [f"| {size} | {name} | {ms:.0f} | {ref / ms:.2f}x faster |" for name, ms in rows.items()]
    if "end_to_end_s" in result:
        e2e = result["end_to_end_s"]
        lines += ["", f"End to end over {e2e['frames']} frames (s; ratio = time / mean reference time):", ""]
        lines += [f"- {k}: {v:.2f}" for k, v in e2e.items() if k not in ("frames", "stages")]
        lines += [f"- stages ({k}): {' '.join(v)}" for k, v in e2e["stages"].items()]
    (out / f"cpu-{stamp}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
