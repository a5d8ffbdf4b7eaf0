"""One way to assemble a run: source + segmenter + stages + sinks, with the defaults in one place.

A run is described by one :class:`u2live.spec.RunSpec`. ``u2live video`` and ``webcam``, the Python API and
``batch`` workers run theirs with :func:`run_job` (outputs checked, the model opened or given, a progress bar, the
summary line); ``bench`` (its own null sink) and ``serve`` (an upload's size limit) build the stages of theirs with
:func:`build_stages` and run them with :func:`run_frames`, so every one of them runs the same stages with the same
defaults through the same loop.

Importing this module imports no torch: the modules that run frames are imported by the functions that use them.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from . import backends
from .errors import U2LiveError
from .options import DEFAULT_MODE, DEFAULT_SMOOTHING, VIDEO_PRECISION, segmenter_options
from .progress import progress_bar
from .sinks import VirtualCameraSink, check_sinks, kept_note, open_sinks
from .sources import open_source
from .spec import ModelSpec, RunSpec
from .stats import PipelineStats

if TYPE_CHECKING:
    from .backgrounds import BackgroundSpec
    from .pipeline import Stages


def queue_size(live: bool) -> int:
    """Finished frames waiting for the writer: live, few (a frame shown late is worse than one dropped); offline,
    enough to ride out an encoder's slow frame."""
    return 2 if live else 8


def build_stages(segmenter: backends.Segmenter, *, mode: str = DEFAULT_MODE, smoothing: str = DEFAULT_SMOOTHING,
                 background: BackgroundSpec) -> Stages:
    """What happens to each frame after the model, on the segmenter's device (a new smoother: state is per run)."""
    from .pipeline import Stages
    from .smoothing import make_smoother

    return Stages(mode=mode, smoother=make_smoother(smoothing), background=background, device=segmenter.device)


def run_frames(source, segmenter: backends.Segmenter, stages: Stages, sinks: Sequence, *, live: bool,
               stats: PipelineStats, sync: bool = False, warp: bool = True, batch: int | None = None,
               **common) -> PipelineStats:
    """Run ``source`` through the model and ``stages`` into ``sinks``: a live source at the camera's rate with the
    model beside it (:func:`u2live.live.run_live`) unless ``sync``; else every frame waits for its own mask
    (:func:`u2live.pipeline.run_pipeline`; batch 1 live, else ``batch`` or the device's default). ``common``:
    ``max_frames``, ``stop_event``, ``on_frame``. Takes ownership of source, stages and sinks, as both do."""
    from .live import run_live
    from .pipeline import default_batch, run_pipeline

    if live:  # what the live summary compares its delivered rate with, on either live loop
        stats.camera_fps = stats.camera_fps or float(source.info.fps)
    if live and not sync:
        return run_live(source, segmenter, stages, sinks, warp=warp, queue_size=queue_size(live), stats=stats,
                        **common)
    return run_pipeline(source, segmenter, stages, sinks, batch=1 if live else batch or default_batch(segmenter),
                        queue_size=queue_size(live), stats=stats, **common)


def run_job(spec: RunSpec, *, segmenter: backends.Segmenter | None = None,
            on_frame: Callable[[], None] | None = None) -> PipelineStats:
    """What ``video`` and ``webcam`` share: check every output, open the source and the virtual camera (bad input
    fails before the model loads and before any file is created), then the model, the stages and the sinks; run
    the pipeline with a progress bar, and print the one-line summary. A failed run's error line says where the
    frames written so far are kept. A live source runs at the camera's rate with the model beside it
    (:mod:`u2live.live`), unless ``spec.sync``. A given ``segmenter`` (loaded once by the Python API or a batch
    worker) is used and left open instead of loading one; ``on_frame`` is called after each frame reached every
    output.

    Source, stages and sinks are held by the run's exit stack until the frame loop takes them (it closes them):
    Ctrl-C or an error before that (while the model loads, while the progress bar is set up) closes each once,
    and a file sink that wrote nothing leaves nothing behind."""
    from .backgrounds import parse_background

    stop = threading.Event()
    stats = PipelineStats()
    background = parse_background(spec.background) if isinstance(spec.background, str) else spec.background
    alpha = spec.mode == "composite" and background.transparent
    check_sinks(spec.output, spec.rtmp, spec.preview, alpha=alpha, overwrite=spec.overwrite,
                inputs={spec.source: "input", background.path: "background", spec.model.weights: "weights"})
    with ExitStack() as stack:
        handed = stack.enter_context(ExitStack())  # what the frame loop takes over: closed here only until then
        source, segmenter, stages, sinks = _open(spec, segmenter, background, stop, stack=stack, handed=handed)
        total = _total(source.info.frames, spec.max_frames) if not spec.live else spec.max_frames
        seen = [-1, -1]  # the first and newest source frame index written: a live run's dropped frames
        stack.callback(_summary, stats, not spec.progress, seen if spec.live else None)  # after the bar closes
        bar = stack.enter_context(progress_bar(total=total, disable=not spec.progress))

        def written(frame) -> None:
            seen[0] = frame.index if seen[0] < 0 else seen[0]
            seen[1] = max(seen[1], frame.index)
            bar.update(1)
            if on_frame is not None:
                on_frame()

        try:
            handed.pop_all()  # the frame loop owns source, stages and sinks from here, and closes them
            run_frames(source, segmenter, stages, sinks, live=spec.live, sync=spec.sync, warp=spec.warp,
                       batch=spec.batch, max_frames=spec.max_frames, stats=stats, stop_event=stop,
                       on_frame=written)
        except U2LiveError as err:
            err.args = (f"{err}{kept_note(sinks)}",)  # one line: what failed, and where the frames went
            raise
        except KeyboardInterrupt as err:  # the CLI's "interrupted" line says where the frames went
            err.kept_note = kept_note(sinks)
            raise
    return stats


@contextmanager
def torch_threads(count: int):
    """torch's intra-op threads set to ``count`` for the run and restored after it (the setting is the
    process's: a caller of the Python API gets its own back). Nothing to set where torch is not loaded (entered
    after the stages are built: they import it where they use it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _open(spec: RunSpec, segmenter, background: BackgroundSpec, stop: threading.Event, *, stack: ExitStack,
          handed: ExitStack) -> tuple:
    """Source, segmenter, stages and sinks of ``spec``: the source and the virtual camera first (bad input fails
    before the model loads), the model (``segmenter`` if given) into ``stack``, the rest into ``handed``."""
    source = handed.enter_context(open_source(spec.source, live=spec.live, width=spec.width, height=spec.height,
                                              fps=spec.fps))
    camera = handed.enter_context(VirtualCameraSink(source.info)) if spec.vcam else None  # opened once, here
    if segmenter is None:
        _check_host_memory(spec)  # before minutes of loading
        segmenter = stack.enter_context(open_segmenter(spec.model, live=spec.live))
    _check_memory(spec, segmenter)
    stages = build_stages(segmenter, mode=spec.mode, smoothing=spec.smoothing, background=background)
    handed.callback(stages.close)
    if segmenter.name == "cpu":
        # the model has the cores (ONNX Runtime's own threads); torch's few small per-frame ops gain nothing
        # from a second thread and, spinning between ops, slowed the model's threads (profiled, issue 15)
        stack.enter_context(torch_threads(1))
    sinks = open_sinks(output=spec.output, rtmp=spec.rtmp, vcam=camera, preview=spec.preview, info=source.info,
                       alpha=stages.writes_rgba, stop_event=stop, overwrite=spec.overwrite)
    for sink in sinks:
        if sink is not camera:
            handed.enter_context(sink)
    return source, segmenter, stages, sinks


def _check_host_memory(spec: RunSpec) -> None:
    """An offline --batch that cannot fit in host memory, refused before a CPU model loads."""
    if not spec.live and spec.batch and _on_the_host(spec.model.backend):
        from .capacity import check_batch_memory

        check_batch_memory(segmenter_options(**spec.model.options())["size"], spec.batch, "cpu")


def _check_memory(spec: RunSpec, segmenter) -> None:
    """A batch that cannot fit is one line now, not an allocator's failure on the first call."""
    if spec.live:
        return
    from .capacity import check_batch_memory
    from .pipeline import default_batch

    check_batch_memory(segmenter.size, spec.batch or default_batch(segmenter), segmenter.device or "cpu")


def _on_the_host(backend: str) -> bool:
    """Whether the model will run in host memory: a CPU backend, or auto where no NVIDIA driver is."""
    return backend not in (*backends.GPU_BACKENDS, "auto") or bool(backend == "auto" and backends.no_nvidia_driver())


def open_segmenter(model: ModelSpec, *, live: bool, log=None):
    """The segmenter for video work: INT8 on the CPU under --precision auto. On a live source loaded below the
    picture's CPU priority (u2live.live.below_the_picture: all its compute threads, one per core as offline, yield
    to the picture), and with --size auto started at once at the size remembered for this machine (the smallest
    the first time) and adjusted while running (u2live.adaptive)."""
    if live:
        from .live import below_the_picture

        return below_the_picture(lambda: _open_segmenter(model, live=True, log=log))
    return _open_segmenter(model, live=False, log=log)


def _open_segmenter(model: ModelSpec, *, live: bool, log=None):
    if not (live and model.size == "auto"):
        return backends.create(**segmenter_options(**model.options()), auto_precision=VIDEO_PRECISION, log=log)
    from . import adaptive
    from .adaptive import SIZES, ladder
    from .size_memory import SizeMemory

    precision = None if model.precision == "auto" else model.precision
    memory = SizeMemory(model.model, model.backend, precision)
    first = backends.create(**segmenter_options(**{**model.options(), "size": memory.start(SIZES)}),
                            auto_precision=VIDEO_PRECISION, log=log)

    def create(setting):
        return backends.create(first.name, model=model.model, weights=model.weights, size=setting.size,
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
