"""The ``u2live`` command: a click group whose every expected failure is one line and a non-zero exit.

Start-up is light: the Ctrl-C handler is installed before any heavy import, and a command's module (torch and
all) is imported only when that command runs, so ``u2live --help`` and ``--version`` answer at once and an early
Ctrl-C is one line, not a traceback from inside an import.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import logging
import os
import sys

import click

from . import __version__
from .console import to_stderr
from .errors import U2LiveError
from .signals import Interrupted, graceful_interrupts, stopped_line


# At exit, Python's last garbage collections scan every object torch and the rest made: 0.3-1 s between the last
# line and the end of the process (after Ctrl-C, a process that seems not to stop). Frozen, they are not scanned;
# what is left is freed with the process anyway. An atexit handler: it runs before those collections.
atexit.register(gc.freeze)


class U2LiveGroup(click.Group):
    """Turns usage errors, our own errors and Ctrl-C into one line and an exit code, never a traceback."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            with graceful_interrupts():
                return super().main(*args, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except (click.Abort, KeyboardInterrupt) as err:
            # click turns KeyboardInterrupt into Abort; the signal that caused it rides along as __cause__.
            cause = err.__cause__ if isinstance(err, click.Abort) else err
            # what the user asked for, not an error; where an interrupted run's frames went, when it kept any
            click.echo(f"u2live: {stopped_line(cause)}{getattr(cause, 'kept_note', '')}", err=True)
            sys.exit(cause.exit_code if isinstance(cause, Interrupted) else 130)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except U2LiveError as err:
            _fail(str(err), 1)
        except Exception as err:  # a bug, not bad input: still one line unless asked for the traceback
            if os.environ.get("U2LIVE_DEBUG"):
                raise
            _fail(f"internal error: {type(err).__name__}: {err} (set U2LIVE_DEBUG=1 for the traceback)", 1)


#: every command: its module in u2live.commands, its click command there, and its one-line help for ``--help``
#: (kept here so that ``u2live --help`` imports no command module: some import torch, seconds on a small machine;
#: tests/test_api.py checks that each entry is a real command of that name)
COMMANDS = {
    "segment": ("segment", "segment", "Masks, cut-outs, boxes and highlights of still images and folders."),
    "video": ("video", "video", "Replace the background of every frame of a video file, audio kept."),
    "batch": ("batch", "batch", "Replace the background of many videos: local workers or a Ray cluster."),
    "webcam": ("webcam", "webcam", "Replace the background of a live camera feed."),
    "eval": ("eval", "eval_command", "Score saliency maps against ground truth (MAE, F, S, E, PR curve)."),
    "bench": ("bench", "bench", "Measure speed: model-only and end-to-end FPS, latency, memory."),
    "build-engine": ("build_engine", "build_engine", "Compile the TensorRT engine (NVIDIA GPU)."),
    "serve": ("serve", "serve", "Serve the HTTP API and a web page."),
    "doctor": ("doctor", "doctor", "Check what works here (cameras, virtual camera, GPU, encoders) and say the fix."),
}


class LazyCommands(U2LiveGroup):
    """Imports a command's module only when that command runs (or shows its own help): ``u2live segment`` with
    the ``cpu`` backend never imports torch."""

    def list_commands(self, ctx):
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx, name):
        if name not in COMMANDS:  # one added with @main.command() (plugins, tests)
            return super().get_command(ctx, name)
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(f".commands.{module}", __package__), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        rows += [(name, self.commands[name].get_short_help_str(80)) for name in self.commands if name not in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _fail(message: str, code: int) -> None:
    click.echo(f"u2live: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=LazyCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="u2live")
@click.option("--verbose", "-v", is_flag=True,
              help="Also show the libraries' own messages (OpenCV, ONNX Runtime) and every backend's reason.")
def main(verbose):
    """Replace the background of live webcam video and recorded videos with U2-Net†.

    Runs on the bundled U2-Net† weights, on the GPU when there is one, else on the CPU. Every command that
    writes files replaces an existing output only with a complete new one; -n/--no-overwrite never replaces.
    """
    set_verbose(verbose)


def set_verbose(verbose: bool) -> None:
    """What the command says, on stderr: u2live's own lines (the ``u2live`` logger: INFO, DEBUG with -v; a
    command's --quiet raises it to WARNING). Quiet by default: OpenCV's [ WARN ] lines are for --verbose; what
    matters is said once, in our own words (ONNX Runtime's quantiser, which warns through the root logger, runs
    in its own process: u2live.backends.graph_build)."""
    to_stderr(logging.DEBUG if verbose else logging.INFO)
    if verbose:
        return
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # read when cv2 is first imported
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # OpenCV's own FFmpeg: quiet (we say why, in words)
    if "cv2" in sys.modules:  # a command module imported it already
        cv2 = sys.modules["cv2"]
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
