"""``u2live bench``: FPS, latency and memory per backend x precision x size x batch, model only and end to end."""
from __future__ import annotations

from pathlib import Path

import click

from ..backends import check_size
from ..options import model_options
from ..outputs import plan_outputs

PATH_CHOICES = ("model", "offline", "live", "live-sync")


def _split(values) -> list[str]:
    """Repeated options and comma lists alike: ``--size 320 --size 192`` == ``--size 320,192``."""
    return [item.strip() for value in values or () for item in str(value).split(",") if item.strip()]


def _each(item_type: click.ParamType):
    """A callback converting every item of a repeated, comma-separable option with ``item_type``."""
    def convert(ctx, param, values):
        return tuple(item_type.convert(item, param, ctx) for item in _split(values))

    return convert


def _repeatable(option: click.Option) -> click.Option:
    """The shared single-valued ``option`` made repeatable (and comma-separable), keeping its name, choices and
    help: compare several values in one run without a second definition of the option."""
    item_type = option.type
    metavar = "[" + "|".join(item_type.choices) + "]" if isinstance(item_type, click.Choice) else item_type.name.upper()
    return click.Option(option.opts, multiple=True, callback=_each(item_type), metavar=metavar,
                        help=f"{option.help} Repeat, or give a comma list, to compare several; "
                             f"default: {_DEFAULTS[option.name]}.")


_DEFAULTS = {"backend": "every backend usable here (so does auto)",
             "precision": "what u2live video and webcam run on each backend (int8 on the CPU)", "size": "320"}


def multi_valued(command: click.Command) -> click.Command:
    for i, param in enumerate(command.params):
        if param.name in _DEFAULTS:
            command.params[i] = _repeatable(param)
    return command


@multi_valued
@click.command()
@click.option("--input", "-i", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Video clip for the pipeline runs (and the model's input frames). "
                   "Default: a built-in synthetic clip, written with PyAV to a temporary file.")
@click.option("--batch", "batches", multiple=True, metavar="N", callback=_each(click.IntRange(min=1)),
              help="Frames per model call (offline pipeline too); repeat or comma list. Default: 1.")
@click.option("--frames", type=click.IntRange(min=1), default=24, show_default=True,
              help="Timed frames per configuration and path (after warm-up).")
@click.option("--only", "paths", multiple=True, metavar="[" + "|".join(PATH_CHOICES) + "]",
              callback=_each(click.Choice(PATH_CHOICES)),
              help="Measure only these: model (model only), offline (u2live video's pipeline), live (the webcam "
                   "path, the model beside the picture), live-sync (webcam --sync); repeat or comma list. "
                   "Default: all four.")
@click.option("--reference/--no-reference", default=True, show_default=True,
              help="Measure the authors' FP32 eager path in the same run, for the ratios.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JSON to this file.")
@click.option("--note", help="Recorded in the JSON's machine info (e.g. 'cores shared with other jobs').")
@model_options
def bench(input_path, batches, frames, paths, reference, json_path, note, weights, model, size, backend, precision):
    """Measure speed: model-only FPS and latency (p50/p99) for each configuration, the end-to-end pipeline FPS
    with a per-stage breakdown, the live paths' delivered FPS against the camera's, capture-to-sink latency, mask
    age and mask refresh rate, and peak memory.

    At its defaults it measures what `u2live video` and `webcam` run by default: every usable backend at the
    precision they take there (INT8 on the CPU), at 320 (webcam's --size auto picks its size at start; give --size
    to measure others). The authors' own path (FP32 eager, their preprocessing, 320x320, batch 1) is measured in
    the same run, and the model and offline rows' FPS are also given divided by its FPS.
    """
    from ..bench import BenchPlan, format_table, run, write_json  # here: `u2live bench --help` without torch

    for value in size:
        check_size(value)
    # checked before minutes of measuring: the JSON must not land on the clip or the weights it reads
    plan_outputs([(json_path, "--json")], {input_path: "--input clip", weights: "weights"})
    plan = BenchPlan(input=input_path, backends=backend, precisions=precision, sizes=size or (320,),
                     batches=batches or (1,), frames=frames, paths=paths or PATH_CHOICES, model=model,
                     weights=weights, note=note, reference=reference)
    report = run(plan, log=lambda line: click.echo(f"u2live bench: {line}", err=True))
    click.echo(format_table(report))
    if json_path is not None:
        write_json(report, json_path)
        click.echo(f"wrote {json_path}", err=True)

