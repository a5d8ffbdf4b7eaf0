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
from .machine import finished, machine_info
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
    machine = machine_info(plan.note)  # its load average before the run's own work
    configs, plan.skipped = model_bench.plan(plan.backends, plan.precisions, plan.sizes, plan.batches)
    for line in plan.skipped:
        log(f"skipped backend {line}")
    with tempfile.TemporaryDirectory(prefix="u2live-bench-") as tmp:
        work_dir = Path(tmp)
        clip = plan.input or write_clip(work_dir / "synthetic.mp4", frames=max(2 * plan.frames, 48))
        images = first_frames(clip, max(plan.batches or [1]))
        opened = [model_bench.open_segmenter(config, model=plan.model, weights=plan.weights, log=log)
                  for config in configs]
        try:
            results = _model_rows(plan, opened, images, log)
            for segmenter, row in opened:
                results.extend(_pipeline_rows(plan, segmenter, row, clip, work_dir, log) if segmenter else [])
        finally:
            for segmenter, _ in opened:
                if segmenter is not None:
                    model_bench.close_segmenter(segmenter)
        clip_info = clip_description(plan, clip)
    if plan.reference:
        model_bench.add_ratios(results, results[0])
    return {"machine": finished(machine), "paper": model_bench.PAPER, "created": time.strftime("%Y-%m-%d"),
            "clip": clip_info, "skipped": plan.skipped, "results": results}


def _model_rows(plan: BenchPlan, opened: list, images: list[np.ndarray], log: Callable[[str], None]) -> list[dict]:
    """The reference and the model-only rows, timed side by side; a ``skipped`` row for what could not load."""
    entries = []
    if plan.reference:
        entries.append(model_bench.reference_entry(images, frames=plan.frames, model=plan.model,
                                                   weights=plan.weights))
    if "model" in plan.paths:
        entries += [model_bench.model_entry(segmenter, row, images, frames=plan.frames)
                    for segmenter, row in opened if segmenter is not None]
    names = ", ".join(f"{e.row['backend']} {e.row['precision']} {e.row['size']} b{e.row['batch']}" for e in entries)
    log(f"model only, side by side, {plan.frames} frames each: {names}")
    rows = model_bench.bench_models(entries, warmup=plan.warmup) if entries else []
    skipped = [{**row, "stage": "model"} for segmenter, row in opened if segmenter is None]
    for row in skipped:
        log(f"skipped {row['backend']} {row['precision'] or 'default'} {row['size']} b{row['batch']}: "
            f"{row['skipped']}")
    return rows + skipped


def _pipeline_rows(plan: BenchPlan, segmenter, row: dict, clip: Path, work_dir: Path,
                   log: Callable[[str], None]) -> list[dict]:
    """The offline and live pipeline rows of one configuration, with its loaded (and warm) segmenter."""
    rows = []
    name = f"{row['backend']} {row['precision']} {row['size']}x{row['size']} batch {row['batch']}"
    for path in PATHS:
        # the live path always runs batch 1: measure it once per backend, precision and size
        if path in plan.paths and (path == "offline" or row["batch"] == min(plan.batches)):
            log(f"pipeline ({path}): {name} (up to {plan.frames} frames)")
            rows.append(bench_pipeline(segmenter, row, clip, path=path, frames=plan.frames, work_dir=work_dir))
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
