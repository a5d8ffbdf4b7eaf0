"""The ``u2live`` command: a click group whose every expected failure is one line and a non-zero exit."""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import U2LiveError
from .signals import Interrupted, graceful_interrupts


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
            _fail("interrupted", cause.exit_code if isinstance(cause, Interrupted) else 130)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except U2LiveError as err:
            _fail(str(err), 1)
        except Exception as err:  # a bug, not bad input: still one line unless asked for the traceback
            if os.environ.get("U2LIVE_DEBUG"):
                raise
            _fail(f"internal error: {type(err).__name__}: {err} (set U2LIVE_DEBUG=1 for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"u2live: error: {message}", err=True)
    sys.exit(code)


@click.group(cls=U2LiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="u2live")
def main():
    """Replace the background of live webcam video and recorded videos with U2-Net†.

    Runs on the bundled U2-Net† weights, on the GPU when there is one, else on the CPU.
    """


def _register() -> None:
    # One line per command module; each module defines a click command named like the module.
    from .commands.segment import segment
    from .commands.bench import bench
    from .commands.video import video
    from .commands.webcam import webcam
    from .commands.build_engine import build_engine
    from .commands.serve import serve
    from .commands.eval import eval_command

    for command in (segment, video, webcam, bench, build_engine, serve, eval_command):
        main.add_command(command)


_register()
