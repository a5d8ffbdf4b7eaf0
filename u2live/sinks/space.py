"""Stop writing a file while there is still room to finish it.

An MP4's index (``moov``) is written at the very end, after the encoder's delayed frames: a file whose disk filled
up before that point does not play at all, and FFmpeg's output error is sticky, so room freed afterwards does not
help. ``SpaceGuard.check`` runs before each frame and raises :class:`OutputError` while the headroom still holds
the encoder's delayed frames and the index, so closing the sink finishes a playable file. Headroom is the smaller
of the free space on the file's filesystem and what the process's file-size limit (``ulimit -f``) still allows.
"""
from __future__ import annotations

import os
import resource
from pathlib import Path

from ..errors import OutputError

BASE_RESERVE = 1 << 20  # header, trailer and the audio still to come
INDEX_BYTES_PER_FRAME = 64  # the index's entries per video frame (and its audio), generously
DELAYED_FRAMES = 100  # frames an encoder may still hold (x264 lookahead, B-frames, frame threads), written by close


class SpaceGuard:
    """``check(frames)`` before writing frame number ``frames`` to ``path``; raises when the rest may not fit."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.folder = self.path.parent

    def reserve(self, frames: int, size: int) -> int:
        """Bytes that closing the file may still need after ``frames`` frames have made it ``size`` bytes."""
        per_frame = size // frames if frames else 0
        return BASE_RESERVE + INDEX_BYTES_PER_FRAME * frames + DELAYED_FRAMES * per_frame

    def check(self, frames: int) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        free, why = self._headroom(size)
        if free >= self.reserve(frames, size):
            return
        raise OutputError(f"{why} for {self.path}: {free / 2**20:.1f} MB left, stopped after {frames} frames so "
                          "that the file can still be finished and plays")

    def _headroom(self, size: int) -> tuple[int, str]:
        try:
            disk = os.statvfs(self.folder)
        except OSError:  # a folder that cannot be asked (some network filesystems): no guard, FFmpeg reports
            return 1 << 62, ""
        free, why = disk.f_bavail * disk.f_frsize, "the disk is nearly full"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit - size < free:
            free, why = limit - size, "the file size limit (ulimit -f) is nearly reached"
        return free, why
