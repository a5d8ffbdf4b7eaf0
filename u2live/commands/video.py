"""``u2live video``: replace the background of every frame of a recorded video, audio kept."""
from __future__ import annotations

import dataclasses

import click

from ..options import video_options
from ..spec import ModelSpec, RunSpec


@click.command()
@click.argument("input_path", metavar="INPUT")  # a str: a path, a URL (click.Path would fold its //) or -
@video_options
@click.option("--batch", type=click.IntRange(1, 64), default=None,
              help="Frames per model call (default: 8 on a GPU, 1 on the CPU).")
def video(input_path, output, rtmp, preview, batch, **options):
    """Replace the background of every frame of INPUT (any format FFmpeg reads: a file, a URL such as
    https://host/clip.mp4, or - for standard input).

    Writes to -o OUTPUT and/or --rtmp URL (at least one): same frame count, size and rate, the input's audio kept.
    A progress bar shows frames done, FPS and ETA. Ctrl-C stops and keeps the frames so far, playable, under the
    partial name (out.partial.mp4 for out.mp4): only a complete result takes the name OUTPUT.
    """
    if output is None and rtmp is None:
        raise click.UsageError("nothing to write to: give -o OUTPUT and/or --rtmp URL")
    from ..job import run_job  # here, not at the top: `u2live video --help` answers without importing torch

    run_job(run_spec(str(input_path), options, output=output, rtmp=rtmp, preview=preview, batch=batch))


def run_spec(source: str, options: dict, **fields) -> RunSpec:
    """The run that ``video_options`` describe (a command's parsed options: the model's, the stages', the sinks';
    the rest in ``fields``). ``--quiet`` means no progress; every other option is a field of the same name."""
    options = dict(options)
    model = ModelSpec(**{field.name: options.pop(field.name) for field in dataclasses.fields(ModelSpec)})
    return RunSpec(source, model=model, progress=not options.pop("quiet"), **options, **fields)
