"""Options shared by several commands, defined once (rembg's CLI copies them into every command; we do not)."""
from __future__ import annotations

import functools

import click

from .backends import backend_choices
from .model import MODEL_NAMES

PRECISIONS = ("auto", "fp32", "fp16", "int8")


def model_options(command):
    """--weights, --model, --size, --backend, --precision: which network runs, and how."""
    decorators = [
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Weights file: the authors' .pth, an ONNX export (.onnx), or ours. "
                          "Default: the bundled U2-Net† weights (or ~/.u2net/<model>.onnx)."),
        click.option("--model", type=click.Choice(MODEL_NAMES), default="u2netp", show_default=True,
                     help="u2netp is U2-Net† (4.7 MB, bundled); u2net is the full 176 MB model (bring weights)."),
        click.option("--size", type=int, default=320, show_default=True,
                     help="Inference size in pixels, a positive multiple of 32 (smaller is faster)."),
        click.option("--backend", type=click.Choice(backend_choices()), default="auto", show_default=True,
                     help="Inference backend; auto picks the fastest that works here and says which."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="Numeric precision; auto picks the backend's default."),
    ]
    return functools.reduce(lambda cmd, deco: deco(cmd), reversed(decorators), command)


def segmenter_options(weights, model, size, backend, precision) -> dict:
    """The keyword arguments :func:`u2live.backends.create` takes, from the shared options."""
    options = {"backend": backend, "model": model, "size": size, "weights": weights}
    if precision != "auto":
        options["precision"] = precision
    return options
