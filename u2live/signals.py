"""Ctrl-C and SIGTERM: the first one stops the work cleanly, a second one exits at once.

The first SIGINT or SIGTERM raises ``KeyboardInterrupt`` in the main thread, so the pipeline's ``finally`` blocks
flush every encoder and close every sink (files written so far stay playable). Cleanup can take a moment (encoder
flush, network close); a user who presses Ctrl-C again does not want to wait for it: the second signal ends the
process immediately with the conventional code.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
BY = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """The KeyboardInterrupt our handler raises; ``exit_code`` is 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.exit_code = EXIT_CODES.get(signum, 130)
        self.by = BY.get(signum, signal.Signals(signum).name)


def stopped_line(interrupt: BaseException) -> str:
    """The last line of a run stopped by a signal: a request to stop, not an error (the exit code still says
    which signal, 130 or 143, as shells expect)."""
    return f"stopped by {interrupt.by if isinstance(interrupt, Interrupted) else BY[signal.SIGINT]}"


@contextmanager
def graceful_interrupts():
    """Install the two-stage handler for SIGINT and SIGTERM while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, _frame):
        if received:
            sys.stderr.write("u2live: interrupted again, exiting now\n")
            sys.stderr.flush()
            os._exit(EXIT_CODES.get(signum, 130))
        received.append(signum)
        sys.stderr.write("u2live: stopping, closing outputs (press Ctrl-C again to quit at once)\n")
        sys.stderr.flush()
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in EXIT_CODES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
