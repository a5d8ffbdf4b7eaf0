"""What the package says: one-line messages through the standard ``u2live`` logger.

A library call configures nothing: a program using the Python API sees u2live's warnings through Python's own
last-resort handler, and its other lines once it configures logging (``logging.basicConfig(level="INFO")``). The
``u2live`` command writes every line to stderr as it is, flushed (a progress bar shares it): :func:`to_stderr`,
at INFO, DEBUG with ``-v``, WARNING with ``--quiet``.
"""
from __future__ import annotations

import logging
import sys

LOG = logging.getLogger("u2live")
WARNING_PREFIX = "u2live: warning:"


def say(line: str) -> None:
    """The default ``log`` callable of every part that reports (backends, sources, sinks): ``line`` to the
    ``u2live`` logger, at WARNING when it says it is one (``u2live: warning: ...``), else at INFO."""
    LOG.log(logging.WARNING if line.startswith(WARNING_PREFIX) else logging.INFO, line)


#: the name the backends and backgrounds still import (they are being restructured; issue 22)
stderr_line = say


class _StderrLines(logging.Handler):
    """Each record's message, as it is, on the stderr of the moment (a test runner may swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(record.getMessage(), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def to_stderr(level: int = logging.INFO) -> None:
    """For the ``u2live`` command: the logger's lines on stderr from ``level`` up (its one handler, however often
    this is called)."""
    for handler in [h for h in LOG.handlers if isinstance(h, _StderrLines)]:
        LOG.removeHandler(handler)
    LOG.addHandler(_StderrLines())
    LOG.setLevel(level)


def quiet() -> None:
    """``--quiet``: warnings and errors only."""
    LOG.setLevel(max(LOG.level, logging.WARNING))


def verbose() -> bool:
    """Whether more detail is asked for (``-v``): the logger passes DEBUG lines."""
    return LOG.isEnabledFor(logging.DEBUG)
