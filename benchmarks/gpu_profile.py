"""Where the GPU pipeline's main thread spends its time: ``u2live video``'s offline loop on a 720p clip with a sink
that keeps nothing (no encoder), in variants side by side, and a profile of the default one.

    python benchmarks/gpu_profile.py CLIP --out-dir OUT [--backend cuda] [--frames 480] [--size 320] [--height 720]

Variants: batch 8 (the GPU default) and 16; OpenCV on one thread (the temporal state's small images may not pay
for 16 threads); smoothing off (the ceiling without the temporal state). Also the host temporal state alone, per
frame, on the clip's frames with OpenCV's default threads and one. Writes ``OUT/gpu-profile.json`` and
``OUT/gpu-profile.txt`` (the profile's top functions).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from gpu_e2e import scaled_clip

from u2live import backends
from u2live.backgrounds import parse_background
from u2live.bench.pipeline import NullSink
from u2live.pipeline import Stages, run_pipeline
from u2live.smoothing import make_smoother
from u2live.sources import open_source
from u2live.stats import PipelineStats
from u2live.temporal import MotionSmoother

VARIANTS = [("batch 8", 8, "auto", None), ("batch 16", 16, "auto", None), ("batch 8, OpenCV 1 thread", 8, "auto", 1),
            ("batch 8, smoothing off", 8, "none", None)]


def run_variant(clip: Path, segmenter, batch: int, smoothing: str, profile=None) -> dict:
    """One run of the offline loop over ``clip`` into a sink that keeps nothing: FPS and ms a frame per stage."""
    stats = PipelineStats()
    stages = Stages(mode="composite", smoother=make_smoother(smoothing), background=parse_background("#00ff00"),
                    device=segmenter.device or "cpu")
    source = open_source(str(clip), live=False)
    if profile is not None:
        profile.enable()
    run_pipeline(source, segmenter, stages, [NullSink()], batch=batch, stats=stats)
    if profile is not None:
        profile.disable()
    data = stats.as_dict()
    return {"fps": round(stats.fps, 1), "stage_ms": {k: round(v, 2) for k, v in data["stage_ms"].items()}}


def smoother_alone(clip: Path, frames: int) -> dict:
    import av

    with av.open(str(clip)) as container:
        pictures = [f.to_ndarray(format="rgb24") for _, f in zip(range(frames), container.decode(video=0))]
    masks = [cv2.GaussianBlur((np.indices((320, 320)).sum(0) % 97 > 40).astype(np.float32), (31, 31), 0)] * 2
    out = {}
    for threads in (cv2.getNumThreads(), 1):
        cv2.setNumThreads(threads)
        smoother = MotionSmoother()
        started = time.perf_counter()
        for i, picture in enumerate(pictures):
            smoother.update(masks[i % 2], i / 24, image=picture)
        out[f"opencv {threads} threads"] = round(1000 * (time.perf_counter() - started) / len(pictures), 2)
    cv2.setNumThreads(-1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--size", type=int, default=320, help="U2-Net†'s inference size")
    parser.add_argument("--height", type=int, default=720, help="the clip's height (720p by default)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    clip = scaled_clip(args.clip, args.height, Path(tempfile.mkdtemp(prefix="u2live-profile-")) / "clip.mp4",
                       args.frames)
    result = {"clip": {"height": args.height, "frames": args.frames}, "size": args.size,
              "smoother_alone_ms_per_frame": smoother_alone(clip, 120), "variants": {}}
    print(result, flush=True)
    default_threads = cv2.getNumThreads()
    with backends.create(args.backend, model="u2netp", size=args.size, log=lambda line: None) as segmenter:
        run_variant(clip, segmenter, 8, "auto")  # warm-up: graphs captured, caches filled
        profile = cProfile.Profile()
        for name, batch, smoothing, threads in VARIANTS:
            cv2.setNumThreads(threads or default_threads)
            result["variants"][name] = run_variant(clip, segmenter, batch, smoothing,
                                                   profile if name == "batch 8" else None)
            print(name, result["variants"][name], flush=True)
        cv2.setNumThreads(default_threads)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
    (args.out_dir / "gpu-profile.txt").write_text(text.getvalue())
    (args.out_dir / "gpu-profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text.getvalue()[:6000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
