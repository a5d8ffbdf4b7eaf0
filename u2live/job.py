"""One way to assemble a run: source + segmenter + stages + sinks, with the defaults in one place.

``u2live video`` and ``webcam``, the Python API and ``batch`` workers run :func:`run_job` (outputs checked, the
model opened or given, a progress bar, the summary line); ``bench`` (its own clip and sinks) and ``serve`` (a job's
upload into its result file) build their stages with :func:`build_stages` and run them with :func:`run_frames`, so
every one of them runs the same stages with the same defaults through the same loop.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import click
import torch

from . import adaptive, backends
from .adaptive import SIZES, ladder
from .backgrounds import BackgroundSpec
from .capacity import check_batch_memory
from .errors import U2LiveError
from .live import below_the_picture, run_live
from .options import DEFAULT_MODE, DEFAULT_SMOOTHING, VIDEO_PRECISION, segmenter_options
from .pipeline import Stages, default_batch, run_pipeline, segmenter_device
from .progress import progress_bar
from .sinks import check_sinks, check_vcam, kept_note, open_sinks
from .size_memory import SizeMemory
from .smoothing import make_smoother
from .sources import open_source
from .stats import PipelineStats


def queue_size(live: bool) -> int:
    """Finished frames waiting for the writer: live, few (a frame shown late is worse than one dropped); offline,
    enough to ride out an encoder's slow frame."""
    return 2 if live else 8


def build_stages(segmenter: backends.Segmenter, *, mode: str = DEFAULT_MODE, smoothing: str = DEFAULT_SMOOTHING,
                 background: BackgroundSpec) -> Stages:
    """What happens to each frame after the model, on the segmenter's device (a new smoother: state is per run)."""
    return Stages(mode=mode, smoother=make_smoother(smoothing), background=background,
                  device=segmenter_device(segmenter))


def run_frames(source, segmenter: backends.Segmenter, stages: Stages, sinks: Sequence, *, live: bool,
               stats: PipelineStats, sync: bool = False, warp: bool = True, batch: int | None = None,
               **common) -> PipelineStats:
    """Run ``source`` through the model and ``stages`` into ``sinks``: a live source at the camera's rate with the
    model beside it (:func:`u2live.live.run_live`) unless ``sync``; else every frame waits for its own mask
    (:func:`u2live.pipeline.run_pipeline`; batch 1 live, else ``batch`` or the device's default). ``common``:
    ``max_frames``, ``stop_event``, ``on_frame``. Takes ownership of source, stages and sinks, as both do."""
    if live:
        stats.camera_fps = stats.camera_fps or float(source.info.fps)
    if live and not sync:
        return run_live(source, segmenter, stages, sinks, warp=warp, queue_size=queue_size(live), stats=stats,
                        **common)
    return run_pipeline(source, segmenter, stages, sinks, batch=1 if live else batch or default_batch(segmenter),
                        queue_size=queue_size(live), stats=stats, **common)


def run_job(source_spec: str, *, live: bool, output, rtmp, vcam: bool, preview: bool, background: BackgroundSpec,
            mode: str, smoothing: str, max_frames: int | None, quiet: bool, overwrite: bool = True,
            batch: int | None = None,
            width: int | None = None, height: int | None = None, fps: float | None = None,
            sync: bool = False, warp: bool = True, segmenter: backends.Segmenter | None = None,
            on_frame: Callable[[], None] | None = None,
            **model) -> PipelineStats:
    """What ``video`` and ``webcam`` share: check every output, open the source and the virtual camera (bad input
    fails before the model loads and before any file is created), then the model, the stages and the sinks; run
    the pipeline with a progress bar, and print the one-line summary. A failed run's error line says where the
    frames written so far are kept. A live source runs at the camera's rate with the model beside it
    (:mod:`u2live.live`), unless ``sync``. A given ``segmenter`` (loaded once by the Python API or a batch worker)
    is used and left open instead of loading one; ``on_frame`` is called after each frame reached every output."""
    stop = threading.Event()
    stats = PipelineStats()
    alpha = mode == "composite" and background.transparent
    check_sinks(output, rtmp, preview, alpha=alpha, overwrite=overwrite,
                inputs={source_spec: "input", background.path: "background", model.get("weights"): "weights"})
    sinks = []
    with ExitStack() as stack:
        source = stack.enter_context(open_source(source_spec, live=live, width=width, height=height, fps=fps))
        if vcam:
            check_vcam(source.info)
        if not live and batch and segmenter is None and _on_the_host(model["backend"]):
            check_batch_memory(segmenter_options(**model)["size"], batch, "cpu")  # before minutes of loading
        if segmenter is None:
            # --quiet: no bar, no summary, and no word from the model's set-up either
            segmenter = stack.enter_context(open_segmenter(model, live=live, log=_silent if quiet else None))
        if not live:  # a batch that cannot fit is one line now, not an allocator's failure on the first call
            check_batch_memory(segmenter.size, batch or default_batch(segmenter), segmenter_device(segmenter))
        if segmenter.name == "cpu":
            # the model has the cores (ONNX Runtime's own threads); torch's few small per-frame ops gain nothing
            # from a second thread and, spinning between ops, slowed the model's threads (profiled, issue 15)
            torch.set_num_threads(1)
        stages = build_stages(segmenter, mode=mode, smoothing=smoothing, background=background)
        stack.callback(stages.close)
        sinks = open_sinks(output=output, rtmp=rtmp, vcam=vcam, preview=preview, info=source.info,
                           alpha=stages.alpha, stop_event=stop, overwrite=overwrite)
        total = _total(source.info.frames, max_frames) if not live else max_frames
        seen = [-1, -1]  # the first and newest source frame index written: a live run's dropped frames
        stack.callback(_summary, stats, quiet, seen if live else None)  # runs after the bar below is closed
        bar = stack.enter_context(progress_bar(total=total, disable=quiet))

        def written(frame) -> None:
            seen[0] = frame.index if seen[0] < 0 else seen[0]
            seen[1] = max(seen[1], frame.index)
            bar.update(1)
            if on_frame is not None:
                on_frame()

        try:
            run_frames(source, segmenter, stages, sinks, live=live, sync=sync, warp=warp, batch=batch,
                       max_frames=max_frames, stats=stats, stop_event=stop, on_frame=written)
        except U2LiveError as err:
            err.args = (f"{err}{kept_note(sinks)}",)  # one line: what failed, and where the frames went
            raise
        except KeyboardInterrupt as err:  # the CLI's "interrupted" line says where the frames went
            err.kept_note = kept_note(sinks)
            raise
    return stats


def _silent(line: str) -> None:
    pass


def _on_the_host(backend: str) -> bool:
    """Whether the model will run in host memory: a CPU backend, or auto where no NVIDIA driver is."""
    return backend not in (*backends.GPU_BACKENDS, "auto") or bool(backend == "auto" and backends.no_nvidia_driver())


def open_segmenter(model: dict, *, live: bool, log=None):
    """The segmenter for video work: INT8 on the CPU under --precision auto. On a live source loaded below the
    picture's CPU priority (u2live.live.below_the_picture: all its compute threads, one per core as offline, yield
    to the picture), and with --size auto started at once at the size remembered for this machine (the smallest
    the first time) and adjusted while running (u2live.adaptive)."""
    if live:
        return below_the_picture(lambda: _open_segmenter(model, live=True, log=log))
    return _open_segmenter(model, live=False, log=log)


def _open_segmenter(model: dict, *, live: bool, log=None):
    if not (live and model["size"] == "auto"):
        return backends.create(**segmenter_options(**model), auto_precision=VIDEO_PRECISION, log=log)
    precision = None if model["precision"] == "auto" else model["precision"]
    memory = SizeMemory(model["model"], model["backend"], precision)
    first = backends.create(**segmenter_options(**{**model, "size": memory.start(SIZES)}),
                            auto_precision=VIDEO_PRECISION, log=log)

    def create(setting):
        return backends.create(first.name, model=model["model"], weights=model["weights"], size=setting.size,
                               precision=setting.precision, log=log)

    return adaptive.start(first, ladder(SIZES, [first.precision]), create, memory=memory, log=first.log)


def _total(frames: int | None, max_frames: int | None) -> int | None:
    if frames is None or max_frames is None:
        return frames or max_frames
    return min(frames, max_frames)


def _summary(stats: PipelineStats, quiet: bool, seen: list[int] | None = None) -> None:
    """Printed also after Ctrl-C or an error: for a live run its rates, then what was done so far (with the frames
    a live run dropped to keep up: the camera delivered more than could be rendered), last: the line scripts read."""
    if quiet or stats.started is None:
        return
    live = stats.live_summary()
    if live:
        click.echo(f"u2live: {live}", err=True)
    first, newest = seen if seen else (0, -1)
    delivered, dropped = newest + 1, ""
    if delivered > stats.frames:
        lost, starting = delivered - stats.frames, max(0, first)  # frames the camera sent while the model loaded
        why = [f"{starting} while starting"] if starting else []
        if lost > starting:
            why.append(f"{lost - starting} to keep up live: a smaller --size or a GPU keeps more")
        dropped = (f"; dropped {lost} of the {delivered} frames the source delivered ({100 * lost / delivered:.0f}%): "
                   + ", ".join(why))
    click.echo(f"u2live: {stats.summary()}{dropped}", err=True)
