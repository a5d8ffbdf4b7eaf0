"""``u2live video``: replace the background of every frame of a recorded video, audio kept."""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack

import click

from .. import backends
from ..errors import U2LiveError
from ..options import segmenter_options, video_options
from ..pipeline import Stages, default_batch, run_pipeline, segmenter_device
from ..progress import progress_bar
from ..stats import PipelineStats


@click.command()
@click.argument("input_path", metavar="INPUT")  # a str: a path, a URL (click.Path would fold its //) or -
@video_options
@click.option("--batch", type=click.IntRange(1, 64), default=None,
              help="Frames per model call (default: 8 on a GPU, 1 on the CPU).")
def video(input_path, output, rtmp, preview, batch, **options):
    """Replace the background of every frame of INPUT (any format FFmpeg reads: a file, a URL such as
    https://host/clip.mp4, or - for standard input).

    Writes to -o OUTPUT and/or --rtmp URL (at least one): same frame count, size and rate, the input's audio kept.
    A progress bar shows frames done, FPS and ETA; Ctrl-C stops and leaves a playable file with the frames so far.
    """
    if output is None and rtmp is None:
        raise click.UsageError("nothing to write to: give -o OUTPUT and/or --rtmp URL")
    run_job(str(input_path), live=False, output=output, rtmp=rtmp, vcam=False, preview=preview, batch=batch,
            **options)


def run_job(source_spec: str, *, live: bool, output, rtmp, vcam: bool, preview: bool, background, mode: str,
            smoothing: str, max_frames: int | None, quiet: bool, overwrite: bool = True, batch: int | None = None,
            width: int | None = None, height: int | None = None, fps: float | None = None,
            segmenter: backends.Segmenter | None = None, on_frame: Callable[[], None] | None = None,
            **model) -> PipelineStats:
    """What ``video`` and ``webcam`` share: check every output, open the source and the virtual camera (bad input
    fails before the model loads and before any file is created), then the model, the stages and the sinks; run
    the pipeline with a progress bar, and print the one-line summary. A failed run's error line says where the
    frames written so far are kept. A given ``segmenter`` (loaded once by the Python API or a batch worker) is
    used and left open instead of loading one; ``on_frame`` is called after each frame reached every output."""
    from ..sinks import check_sinks, check_vcam, kept_note, open_sinks
    from ..smoothing import make_smoother
    from ..sources import open_source

    stop = threading.Event()
    stats = PipelineStats()
    alpha = mode == "composite" and background.transparent
    check_sinks(output, rtmp, preview, alpha=alpha, overwrite=overwrite,
                inputs={source_spec: "input", background.path: "background"})
    sinks = []
    with ExitStack() as stack:
        source = stack.enter_context(open_source(source_spec, live=live, width=width, height=height, fps=fps))
        if vcam:
            check_vcam(source.info)
        if segmenter is None:
            segmenter = stack.enter_context(backends.create(**segmenter_options(**model)))
        stages = Stages(mode=mode, smoother=make_smoother(smoothing), background=background,
                        device=segmenter_device(segmenter))
        stack.callback(stages.close)
        sinks = open_sinks(output=output, rtmp=rtmp, vcam=vcam, preview=preview, info=source.info,
                           alpha=stages.alpha, stop_event=stop, overwrite=overwrite)
        total = _total(source.info.frames, max_frames) if not live else max_frames
        stack.callback(_summary, stats, quiet)  # runs after the bar below is closed
        bar = stack.enter_context(progress_bar(total=total, disable=quiet))
        done = bar.update if on_frame is None else lambda n: (bar.update(n), on_frame())
        try:
            run_pipeline(source, segmenter, stages, sinks, batch=1 if live else batch or default_batch(segmenter),
                         max_frames=max_frames, stats=stats, stop_event=stop, on_frame=lambda _f: done(1),
                         queue_size=2 if live else 8)
        except U2LiveError as err:
            err.args = (f"{err}{kept_note(sinks)}",)  # one line: what failed, and where the frames went
            raise
    return stats


def _total(frames: int | None, max_frames: int | None) -> int | None:
    if frames is None or max_frames is None:
        return frames or max_frames
    return min(frames, max_frames)


def _summary(stats: PipelineStats, quiet: bool) -> None:
    """Printed also after Ctrl-C or an error: what was done so far."""
    if not quiet and stats.started is not None:
        click.echo(f"u2live: {stats.summary()}", err=True)
