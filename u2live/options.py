"""Options shared by several commands, defined once (rembg's CLI copies them into every command; we do not).

Torch-free, so that every command's ``--help`` answers at once: :mod:`u2live.backgrounds` and
:mod:`u2live.smoothing` (torch) are imported only by the callbacks that parse --bg and --smoothing."""
from __future__ import annotations

import functools
import math

import click

from .backends import backend_choices, check_size
from .catalog import AUTO, MODEL_CHOICES
from .outputs import OVERWRITE_HELP

PRECISIONS = ("auto", "fp32", "fp16", "int8")
#: what a video run makes (composite: the subject over the background; matte: the grayscale mask as the picture)
#: and the defaults of every way to start one (CLI, Python API, server, bench): here, torch-free, for --help
MODES = ("composite", "matte")
DEFAULT_MODE = "composite"
DEFAULT_BACKGROUND = "blur"  # the room blurred: keeps a call's framing without showing the room
DEFAULT_SMOOTHING = "auto"
#: precision per backend under --precision auto for video work: INT8 on the CPU (masks within MAE 0.005 of FP32 on
#: the authors' images; ~2x faster with VNNI, a few % on AVX2 without: benchmarks/int8_kernels.py); GPU backends keep
#: their own defaults
VIDEO_PRECISION = {"cpu": "int8"}
#: the network of video work (video, webcam, batch, Model.video): the person model where a person is in the picture,
#: U2-Net† elsewhere; still images (segment, serve, eval) keep U2-Net†'s salient-object cut-out
VIDEO_MODEL = AUTO
STILL_MODEL = "u2netp"
MODEL_HELP = ("auto: the person model (selfie, MediaPipe's Selfie Segmentation, bundled) where a person is in the "
              "picture, U2-Net† where none is; u2netp is U2-Net† (4.7 MB, bundled, salient objects); u2net is the "
              "full 176 MB model (bring weights); u2net_human_seg is the full model trained on people (rembg's, "
              "from ~/.u2net).")
# the --bg and --smoothing help (u2live.backgrounds, u2live.smoothing): here, since both modules import torch
BACKGROUND_HELP = (
    "Background behind the subject: an image file (cover-fitted, never stretched), a video file (looped), "
    "color:R,G,B or #RRGGBB, blur (the frame's own background blurred; blur:RADIUS in pixels, default 2.5% of "
    "the frame's longer side), or transparent (writes alpha: .mov ProRes 4444, .webm VP9, or a PNG sequence).")
SMOOTHING_HELP = (
    "Temporal smoothing of the mask: auto (default; also 'motion'): the mask changes only where the picture "
    "changed, following the motion by optical flow; ema: the previous default, an exponential average by "
    "timestamp (200 ms; light 100 ms, strong 300 ms, or a time constant such as 80ms or 0.15s); or none.")


class Finite(click.FloatRange):
    """A float within a range that is also a number: click's FloatRange lets ``nan`` through every bound (it
    compares false with all of them) and ``inf`` through an open upper one."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def overwrite_option(command):
    """-n/--no-overwrite, one policy for every command that writes files; arrives as ``overwrite`` (bool)."""
    return click.option("--no-overwrite", "-n", "overwrite", is_flag=True, flag_value=False, default=True,
                        help=OVERWRITE_HELP)(command)


def model_options(command=None, *, only: tuple[str, ...] = ("weights", "model", "size", "backend", "precision"),
                  default_model: str = STILL_MODEL):
    """--weights, --model, --size, --backend, --precision: which network runs, and how. ``@model_options`` adds
    them all; ``@model_options(only=(...))`` those named (build-engine: one backend, its own precisions)."""
    if command is None:
        return functools.partial(model_options, only=only, default_model=default_model)
    decorators = dict(zip(("weights", "model", "size", "backend", "precision"), [
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weights file: the authors' .pth, an ONNX export (.onnx), or ours. "
                          "Default: the bundled U2-Net† weights (or ~/.u2net/<model>.onnx)."),
        click.option("--model", type=click.Choice(MODEL_CHOICES), default=default_model, show_default=True,
                     help=MODEL_HELP),
        click.option("--size", type=SIZE, default=320, show_default=True, callback=_check_size,
                     help="Inference size in pixels, a positive multiple of 32 up to 1024 (smaller is faster); auto "
                          "(webcam's default), live only: the largest that refreshes masks at >= 8 Hz here, "
                          "measured while running (it starts at the size remembered for this machine, else 160)."),
        click.option("--backend", type=click.Choice(backend_choices()), default="auto", show_default=True,
                     help="Inference backend; auto picks the fastest that works here and says which."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="Numeric precision; auto picks the backend's default: for video and webcam on the CPU "
                          "int8 (masks within MAE 0.005 of fp32; ~2x faster with AVX-512 VNNI, a few % on AVX2 "
                          "without it), elsewhere fp32 on the CPU and fp16 on capable GPUs. --precision fp32 runs "
                          "the exact model."),
    ]))
    return functools.reduce(lambda cmd, name: decorators[name](cmd), reversed(only), command)


def _check_size(ctx, param, value):
    return value if value == "auto" else check_size(value)  # at once, not after the inputs and outputs are opened


class _Size(click.ParamType):
    """A whole number of pixels, or ``auto``."""

    name = "INTEGER|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).strip().lower() == "auto":
            return value if isinstance(value, int) else "auto"
        return click.INT.convert(value, param, ctx)


SIZE = _Size()
DEFAULT_SIZE = 320  # what --size auto means where nothing is measured (offline work, still images)


def segmenter_options(weights, model, size, backend, precision) -> dict:
    """The keyword arguments :func:`u2live.backends.create` takes, from the shared options."""
    size = DEFAULT_SIZE if size == "auto" else size
    options = {"backend": backend, "model": model, "size": size, "weights": weights}
    if precision != "auto":
        options["precision"] = precision
    return options


def _parse_background(ctx, param, value):
    from .backgrounds import parse_background

    return parse_background(value)  # an InputError here is one line and exit 1, before the model loads


def _check_smoothing(ctx, param, value):
    from .smoothing import make_smoother

    make_smoother(value)  # validate now; each run makes its own smoother (temporal state is per run)
    return value


def _quiet(ctx, param, value):
    if value:
        from .console import quiet

        quiet()
    return value


def video_options(command):
    """The options ``u2live video`` and ``u2live webcam`` share: what the output looks like, where it goes, how
    long the run is, plus :func:`model_options`. ``--bg`` arrives parsed, as a ``BackgroundSpec``."""
    decorators = [
        click.option("--bg", "background", default=DEFAULT_BACKGROUND, show_default=True, callback=_parse_background,
                     help=BACKGROUND_HELP),
        click.option("--mode", type=click.Choice(MODES), default=DEFAULT_MODE, show_default=True,
                     help="composite: the subject over the background; matte: the grayscale mask as the video."),
        click.option("--smoothing", default=DEFAULT_SMOOTHING, show_default=True, callback=_check_smoothing,
                     help=SMOOTHING_HELP),
        click.option("-o", "--output", type=click.Path(dir_okay=True), default=None,  # str: keeps a final /
                     help="Write a video file: H.264 MP4 by default, other formats by extension; with --bg "
                          "transparent: .mov (ProRes 4444), .webm (VP9) or a PNG sequence (frame_%05d.png)."),
        click.option("--rtmp", metavar="URL", default=None,
                     help="Stream to an RTMP server (FLV, H.264, AAC), e.g. rtmp://host/live/key."),
        click.option("--preview/--no-preview", default=False, show_default=True,
                     help="Show a preview window with FPS and latency; q or Esc stops."),
        click.option("--max-frames", type=click.IntRange(min=1), default=None,
                     help="Stop after this many frames."),
        click.option("--quiet", "-q", is_flag=True, callback=_quiet,
                     help="No progress bar and no summary line; of u2live's other lines only warnings."),
        overwrite_option,
    ]
    return functools.reduce(lambda cmd, deco: deco(cmd), reversed(decorators),
                            model_options(command, default_model=VIDEO_MODEL))
