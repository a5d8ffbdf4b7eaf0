"""``u2live video``: replace the background of every frame of a recorded video, audio kept."""
from __future__ import annotations

import threading
from contextlib import ExitStack
from pathlib import Path

import click

from .. import backends
from ..options import segmenter_options, video_options
from ..pipeline import Stages, default_batch, run_pipeline, segmenter_device
from ..progress import progress_bar
from ..stats import PipelineStats


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@video_options
@click.option("--batch", type=click.IntRange(1, 64), default=None,
              help="Frames per model call (default: 8 on a GPU, 1 on the CPU).")
def video(input_path, output, rtmp, preview, batch, **options):
    """Replace the background of every frame of INPUT (any format FFmpeg reads).

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
            segmenter: backends.Segmenter | None = None, **model) -> PipelineStats:
    """What ``video`` and ``webcam`` share: open the source (bad input fails before the model loads), the model,
    the stages and the sinks, run the pipeline with a progress bar, and print the one-line summary. A given
    ``segmenter`` (the Python API's, loaded once) is used and left open instead of loading one."""
    from ..sinks import open_sinks
    from ..smoothing import make_smoother
    from ..sources import open_source

    stop = threading.Event()
    stats = PipelineStats()
    with ExitStack() as stack:
        source = stack.enter_context(open_source(source_spec, live=live, width=width, height=height, fps=fps))
        if segmenter is None:
            segmenter = stack.enter_context(backends.create(**segmenter_options(**model)))
        stages = Stages(mode=mode, smoother=make_smoother(smoothing), background=background,
                        device=segmenter_device(segmenter))
        stack.callback(stages.close)
        sinks = open_sinks(output=output, rtmp=rtmp, vcam=vcam, preview=preview, info=source.info,
                           alpha=stages.alpha, stop_event=stop)
        total = _total(source.info.frames, max_frames) if not live else max_frames
        stack.callback(_summary, stats, quiet)  # runs after the bar below is closed
        bar = stack.enter_context(progress_bar(total=total, disable=quiet))
        run_pipeline(source, segmenter, stages, sinks, batch=1 if live else batch or default_batch(segmenter),
                     max_frames=max_frames, stats=stats, stop_event=stop, on_frame=lambda _frame: bar.update(1),
                     queue_size=2 if live else 8)
    return stats


def _total(frames: int | None, max_frames: int | None) -> int | None:
    if frames is None or max_frames is None:
        return frames or max_frames
    return min(frames, max_frames)


def _summary(stats: PipelineStats, quiet: bool) -> None:
    """Printed also after Ctrl-C or an error: what was done so far."""
    if not quiet and stats.started is not None:
        click.echo(f"u2live: {stats.summary()}", err=True)
