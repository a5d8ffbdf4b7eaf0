"""Where the CPU goes in a live run at 1280x720 (issue 15): each stage of ``u2live webcam`` alone, on real frames,
in CPU milliseconds per frame (process CPU time, so a stage's own helper threads count: x264's, the decoder's,
ONNX Runtime's), and the model's rate by size and thread count.

    PYTHONPATH=. nice -n 10 python benchmarks/live_profile.py [--frames 60]

Stages: decode (PyAV, 720p H.264 to RGB, as the paced file source does it), flow (DIS: prepare + flow + warp of a
320x320 mask), smoothing (the default smoother), render (refine + background + composite, per --bg), encode (the
file sink's H.264 at the offline preset and the live one), and the model (int8 ONNX Runtime) at each size with 1
and 2 threads: wall ms per call and CPU ms per call; and what a smaller model costs in the picture (MAE of the
refined matte at each size to the one at 320, on Megamind and vtest frames). Results:
``benchmarks/results/live-profile.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

RESULTS = REPO / "benchmarks/results"


def cpu_ms(work, repeat: int) -> float:
    """Median process CPU ms of ``work()`` (helper threads included) over ``repeat`` calls after a warm-up."""
    work()
    spent = []
    for _ in range(repeat):
        begin = time.process_time()
        work()
        spent.append(time.process_time() - begin)
    return round(float(np.median(spent)) * 1000, 2)


def decode_ms(clip: Path, frames: int) -> dict:
    out = {}
    for threads in ("AUTO", "NONE"):
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            if threads == "AUTO":
                stream.thread_type = "AUTO"
            begin, count = time.process_time(), 0
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                count += 1
                if count == frames:
                    break
            out[f"decode ({threads.lower()} threads)"] = round((time.process_time() - begin) * 1000 / count, 2)
    return out


def read_frames(clip: Path, frames: int) -> list[np.ndarray]:
    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), container.decode(video=0))]


def per_frame_stages(images: list[np.ndarray]) -> dict:
    import torch

    from u2live.backgrounds import parse_background
    from u2live.flow import FlowEstimator
    from u2live.pipeline import Stages
    from u2live.smoothing import make_smoother
    from u2live.stats import PipelineStats

    torch.set_num_threads(1)
    mask = np.random.default_rng(0).random((320, 320), dtype=np.float32)
    stats, out, i = PipelineStats(), {}, [0]

    def step():
        i[0] = (i[0] + 1) % len(images)
        return images[i[0]]

    flow = FlowEstimator()
    held = flow.prepare(images[0])
    out["flow + warp"] = cpu_ms(lambda: flow.flow(held, step(), check=False).warp(mask), len(images))
    smoother = make_smoother("auto")
    out["smoothing (auto)"] = cpu_ms(lambda: smoother.update(mask, i[0] / 30, image=step()), len(images))
    for bg in ("blur", "color:0,120,255"):
        stages = Stages(mode="composite", background=parse_background(bg))
        out[f"render --bg {bg.split(':')[0]}"] = cpu_ms(lambda: stages.picture(step(), mask, 0.0, stats), len(images))
    stages = Stages(mode="matte")
    out["render --mode matte"] = cpu_ms(lambda: stages.picture(step(), mask, 0.0, stats), len(images))
    return out


def encode_ms(images: list[np.ndarray], presets=("medium", "veryfast", "superfast", "ultrafast")) -> dict:
    from u2live.frame import Frame, VideoInfo
    from u2live.sinks.encoding import VideoCodec, VideoEncoder

    info = VideoInfo(width=1280, height=720, fps=Fraction(30), time_base=Fraction(1, 90000))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            codec = VideoCodec("libx264", "yuv420p", {"preset": preset, "crf": 18})
            encoder = VideoEncoder(str(Path(tmp) / f"{preset}.mp4"), info, codec)
            begin = time.process_time()
            for n, image in enumerate(images * 2):
                encoder.write(Frame(image, n / 30, n))
            encoder.close()
            out[f"encode x264 {preset}"] = round((time.process_time() - begin) * 1000 / (2 * len(images)), 2)
    return out


def model_ms(images: list[np.ndarray], sizes=(320, 256, 224, 192, 160, 128)) -> dict:
    from u2live import backends

    out = {}
    for threads in (1, 2):
        for size in sizes:
            with backends.create("cpu", size=size, precision="int8", threads=threads) as segmenter:
                segmenter.predict([images[0]])
                walls, cpus = [], []
                for k in range(6):
                    wall, cpu = time.perf_counter(), time.process_time()
                    segmenter.predict([images[k % len(images)]])
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
            key = f"model int8 {size} ({threads} thread{'s' if threads > 1 else ''})"
            out[key] = {
                "wall_ms": round(float(np.median(walls)) * 1000, 1), "cpu_ms": round(float(np.median(cpus)) * 1000, 1)}
            print(json.dumps({f"{size}/{threads}": out[key]}), flush=True)
    return out


def size_quality(clips: dict[str, Path], sizes=(256, 192, 160, 128), every: int = 7, count: int = 36) -> dict:
    """What a smaller model costs in the picture: MAE of the refined matte at each size (int8) to the one at 320
    (fp32), over ``count`` frames ``every`` apart of each clip; mean and worst frame."""
    import torch

    from u2live import backends
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    stages, stats, out = Stages(mode="matte"), PipelineStats(), {}
    for name, clip in clips.items():
        frames = read_frames(clip, every * count)[::every]
        mattes = {}
        with torch.inference_mode():
            for size, precision in [(320, "fp32"), *((s, "int8") for s in sizes)]:
                with backends.create("cpu", size=size, precision=precision, threads=1) as segmenter:
                    mattes[size] = [stages.render(f, segmenter.predict_frames(f[None])[0], 0.0, stats)[..., 0]
                                    .astype(np.float32) for f in frames]
        errors = {s: [float(np.abs(a - b).mean()) / 255 for a, b in zip(mattes[s], mattes[320])] for s in sizes}
        out[name] = {s: {"mae_mean": round(float(np.mean(e)), 4), "mae_worst": round(max(e), 4)}
                     for s, e in errors.items()}
        print(json.dumps({name: out[name]}), flush=True)
    return out


def main() -> None:
    from live_camera import loadavg, make_clip

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    clip = make_clip("Megamind.avi", 28)
    load_before = loadavg()
    images = read_frames(clip, args.frames)
    report = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": load_before,
              "stages_cpu_ms": {**decode_ms(clip, args.frames), **per_frame_stages(images), **encode_ms(images)}}
    print(json.dumps(report), flush=True)
    if not args.skip_model:
        report["model"] = model_ms(images)
    if not args.skip_quality:
        report["size_quality"] = size_quality({"Megamind": clip, "vtest": make_clip("vtest.avi", 20)})
    report["load_after"] = loadavg()
    print(json.dumps(report, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live-profile.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
