"""End-to-end benchmarks: the real pipeline (decode, model, smoothing, compositing, encode) on a clip.

Three paths per configuration, through the code ``u2live video`` and ``u2live webcam`` run
(:func:`u2live.pipeline.run_pipeline`, :func:`u2live.live.run_live`):

- offline (``u2live video``): a file decoded without drops, composited over the default blurred background,
  encoded to H.264 MP4 in a temporary folder. FPS is frames over the run's wall time.
- live (``u2live webcam``): the same file standing in for a camera (paced at its own frame rate, only the newest
  frame kept), batch 1, frames handed to a :class:`NullSink` standing in for the virtual camera (no v4l2loopback
  device on a benchmark machine), the model beside the picture as ``u2live webcam`` runs it; reports delivered FPS
  against the camera's, the share of camera frames delivered, capture-to-sink latency, mask age and mask refresh
  rate.
- live-sync (``u2live webcam --sync``): the same, each frame waiting for its own mask.
"""
from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import torch

from ..backgrounds import parse_background
from ..frame import Frame
from ..job import build_stages, run_frames
from ..sinks import open_sinks
from ..sinks.base import Sink
from ..sources import open_source
from ..spec import RunSpec
from ..stats import STAGES, PipelineStats
from .measure import PeakMemory

PATHS = ("offline", "live", "live-sync")
LIVE_KEYS = ("camera_fps", "delivered_fps", "delivered_share", "mask_hz", "mask_age_ms_p50", "mask_age_ms_p99")


class NullSink(Sink):
    """A sink that keeps nothing: stands in for the virtual camera, which needs a v4l2loopback device."""

    name = "null"

    def __init__(self):
        self.frames = 0

    def write(self, frame: Frame) -> None:
        self.frames += 1

    def _close(self) -> None:
        pass


def bench_pipeline(segmenter, row: dict, clip: Path, *, path: str, frames: int, work_dir: Path) -> dict:
    """One pipeline run of up to ``frames`` frames of ``clip`` on ``path`` (offline or live) -> a result row.

    Built as ``u2live video`` / ``u2live webcam`` build it (their defaults: blurred background, ``auto``
    smoothing, composite mode, the same queue sizes), with the already loaded and warmed-up ``segmenter``.
    """
    live = path.startswith("live")
    spec = RunSpec(str(clip), live=live, sync=path == "live-sync", batch=row["batch"], max_frames=frames,
                   output=None if live else work_dir / f"bench-{row['backend']}.mp4", progress=False)
    stop = threading.Event()
    with ExitStack() as handed:  # source, stages and sinks, closed here only until the frame loop takes them
        source = handed.enter_context(open_source(spec.source, live=spec.live))
        stages = build_stages(segmenter, mode=spec.mode, smoothing=spec.smoothing,
                              background=parse_background(spec.background))
        handed.callback(stages.close)
        sinks = [NullSink()] if live else open_sinks(output=spec.output, info=source.info,
                                                     alpha=stages.writes_rgba, stop_event=stop)
        for sink in sinks:
            handed.enter_context(sink)
        # On a GPU each stage boundary waits for the device, so the breakdown is honest (costs a little overlap).
        stats = PipelineStats(synchronize=torch.cuda.synchronize if stages.kernels.on_gpu else None)
        handed.pop_all()
        with PeakMemory(torch.device(segmenter.device or "cpu")) as memory:
            run_frames(source, segmenter, stages, sinks, live=spec.live, sync=spec.sync, batch=spec.batch,
                       max_frames=spec.max_frames, stats=stats, stop_event=stop)
    return pipeline_row(row, stats, path=path, memory=memory)


def pipeline_row(row: dict, stats: PipelineStats, *, path: str, memory: PeakMemory) -> dict:
    """A result row from a finished run: FPS, per-stage ms per frame, latency (live only), memory."""
    data = stats.as_dict()
    live = path.startswith("live")
    return {
        **row, "stage": "pipeline", "path": path, "batch": 1 if live else row["batch"],
        "fps": data["fps"], "frames": data["frames"], "wall_s": data["wall_s"],
        "stage_ms": {name: data["stage_ms"].get(name, 0.0) for name in STAGES},
        # capture-to-sink latency means something only on the live path: offline, frames wait in queues by design
        "latency_ms_p50": data["latency_ms_p50"] if live else None,
        "latency_ms_p99": data["latency_ms_p99"] if live else None,
        **{key: data[key] if live else None for key in LIVE_KEYS},
        **memory.as_dict(),
    }
