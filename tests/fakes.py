"""Test stand-ins shared by several test modules (each named as such; the real classes have their own tests)."""
from __future__ import annotations

from u2live.frame import Frame


class RecordingSink:
    """Keeps what it is given (a test stand-in for a sink; the real sinks have their own tests)."""

    def __init__(self):
        self.frames: list[Frame] = []
        self.closed = 0

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed += 1
