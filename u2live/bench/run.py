"""One benchmark run: the reference, then each configuration's model-only and pipeline measurements."""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..machine import machine_info
from . import model as model_bench
from .clip import write_clip
from .pipeline import PATHS, bench_pipeline

WARMUP_CALLS = 2  # the first calls allocate buffers and pick kernels; they are not what a long run sees


@dataclass
class BenchPlan:
    """What ``u2live bench`` was asked to measure."""

    input: Path | None = None
    backends: Sequence[str] = ()
    precisions: Sequence[str] = ()
    sizes: Sequence[int] = (320,)
    batches: Sequence[int] = (1,)
    frames: int = 24
    warmup: int = WARMUP_CALLS
    paths: Sequence[str] = ("model", *PATHS)
    model: str = "u2netp"
    weights: str | None = None
    note: str | None = None
    reference: bool = True
    skipped: list[str] = field(default_factory=list)


def run(plan: BenchPlan, log: Callable[[str], None] = print) -> dict:
    """Measure everything ``plan`` asks for; returns ``{"machine", "paper", "clip", "skipped", "results"}``."""
    configs, plan.skipped = model_bench.plan(plan.backends, plan.precisions, plan.sizes, plan.batches)
    for line in plan.skipped:
        log(f"skipped backend {line}")
    with tempfile.TemporaryDirectory(prefix="u2live-bench-") as tmp:
        work_dir = Path(tmp)
        clip = plan.input or write_clip(work_dir / "synthetic.mp4", frames=max(2 * plan.frames, 48))
        images = first_frames(clip, max(plan.batches or [1]))
        results = [_reference(plan, images, log)] if plan.reference else []
        for config in configs:
            results.extend(run_config(config, plan, images, clip, work_dir, log))
        clip_info = clip_description(plan, clip)
    if plan.reference:
        model_bench.add_ratios(results, results[0])
    return {"machine": machine_info(plan.note), "paper": model_bench.PAPER, "created": time.strftime("%Y-%m-%d"),
            "clip": clip_info, "skipped": plan.skipped, "results": results}


def _reference(plan: BenchPlan, images: list[np.ndarray], log: Callable[[str], None]) -> dict:
    log(f"reference: the authors' FP32 eager model, 320x320, batch 1 ({plan.frames} frames)")
    return model_bench.bench_reference(images, frames=plan.frames, warmup=plan.warmup, model=plan.model,
                                       weights=plan.weights)


def run_config(config: model_bench.Config, plan: BenchPlan, images: list[np.ndarray], clip: Path, work_dir: Path,
               log: Callable[[str], None]) -> list[dict]:
    """The rows of one configuration: model only, then the pipeline paths, sharing one loaded segmenter."""
    segmenter, row = model_bench.open_segmenter(config, model=plan.model, weights=plan.weights, log=log)
    if segmenter is None:
        log(f"skipped {config.backend} {config.precision or 'default'} {config.size} b{config.batch}: "
            f"{row['skipped']}")
        return [{**row, "stage": "model"}]
    rows = []
    try:
        name = f"{row['backend']} {row['precision']} {row['size']}x{row['size']} batch {row['batch']}"
        if "model" in plan.paths:
            log(f"model: {name} ({plan.frames} frames)")
            rows.append(model_bench.bench_model(segmenter, row, images, frames=plan.frames, warmup=plan.warmup))
        for path in PATHS:
            # the live path always runs batch 1: measure it once per backend, precision and size
            if path in plan.paths and (path != "live" or config.batch == min(plan.batches)):
                log(f"pipeline ({path}): {name} (up to {plan.frames} frames)")
                rows.append(bench_pipeline(segmenter, row, clip, path=path, frames=plan.frames, work_dir=work_dir))
    finally:
        model_bench.close_segmenter(segmenter)
    return rows


def first_frames(clip: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of ``clip`` as [H, W, 3] uint8 RGB (real pictures for the model-only runs)."""
    try:
        with av.open(str(clip)) as container:
            frames = []
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    except (av.error.FFmpegError, IndexError) as err:
        raise InputError(f"cannot decode {clip}: expected a video file, got {type(err).__name__}: {err}") from err
    if not frames:
        raise InputError(f"{clip} has no video frames")
    return frames


def clip_description(plan: BenchPlan, clip: Path) -> dict:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        info = {"width": stream.width, "height": stream.height, "fps": float(stream.average_rate or 0),
                "codec": stream.codec_context.name}
    info["name"] = clip.name if plan.input else "synthetic (moving figure over texture, H.264, built in)"
    return info
