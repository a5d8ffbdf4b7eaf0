"""The sink contract and the small helpers the sinks share."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..closing import Closing
from ..frame import Frame


class Sink(Closing, ABC):
    """Where finished frames go. Synchronous: the pipeline calls ``write`` from its writer thread.

    - ``write(frame)``: ``frame.image`` is the finished [H, W, 3] RGB (or [H, W, 4] RGBA for transparent output)
      uint8 numpy array, ``frame.pts`` seconds from the stream start, ``frame.captured_at`` kept from the source.
    - ``close()`` flushes the encoder and releases the output; idempotent; safe after Ctrl-C, so whatever was
      written so far plays. ``_close`` is called exactly once.
    """

    name = "sink"

    @abstractmethod
    def write(self, frame: Frame) -> None:
        ...

    @abstractmethod
    def _close(self) -> None:
        ...


def even(n: int) -> int:
    return n + (n % 2)


def pad_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pad [H, W, C] on the right and bottom by repeating the edge (4:2:0 encoders and v4l2 want even sizes; a
    repeated edge row is invisible where a black one would show)."""
    pad_h, pad_w = height - image.shape[0], width - image.shape[1]
    if pad_h == 0 and pad_w == 0:
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """RGB <-> RGBA as the output needs: an opaque alpha is added, or the alpha dropped."""
    if image.shape[2] == channels:
        return image
    if channels == 3:
        return image[:, :, :3]
    alpha = np.full(image.shape[:2] + (1,), 255, dtype=np.uint8)  # [H, W, 1]
    return np.concatenate([image, alpha], axis=2)
