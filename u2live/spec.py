"""A run described by one value: what to read, which model, which stages, which sinks.

``u2live video`` and ``webcam``, :meth:`u2live.api.Model.video` and ``batch`` workers each build a
:class:`RunSpec` and hand it to :func:`u2live.job.run_job`; the option names of the CLI are not the library's API.
Plain data (torch-free, picklable: a batch sends one to every worker process or Ray actor); the loaded model and
the per-frame callback are the run's arguments, not part of its description.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .options import DEFAULT_BACKGROUND, DEFAULT_MODE, DEFAULT_SIZE, DEFAULT_SMOOTHING, VIDEO_MODEL

if TYPE_CHECKING:
    from .backgrounds import BackgroundSpec


@dataclass(frozen=True)
class ModelSpec:
    """Which network runs, and how: the CLI's --model, --size (``auto``: measured while running, live only),
    --backend, --precision and --weights, with the video commands' defaults."""

    model: str = VIDEO_MODEL
    size: int | str = DEFAULT_SIZE
    backend: str = "auto"
    precision: str = "auto"
    weights: str | None = None

    def options(self) -> dict:
        """The fields by name (what :func:`u2live.options.segmenter_options` takes)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSpec:
    """One video run. ``source``: a path, a URL, ``-`` (standard input), or with ``live`` a camera (index or
    device) or a file standing in for one, asked for ``width`` x ``height`` at ``fps``. Stages: ``mode``,
    ``smoothing`` and ``background`` (a parsed ``BackgroundSpec``, or its text as ``--bg`` takes it). Sinks:
    ``output``, ``rtmp``, ``vcam``, ``preview`` (at least one), ``overwrite`` (False: refuse an existing output).
    ``max_frames`` ends it early; ``batch`` frames per model call offline; ``sync`` makes every live frame wait
    for its own mask; ``warp`` carries live masks along the motion; ``progress``: a progress bar and the summary
    line on stderr (the CLI's ``--quiet`` turns both off)."""

    source: str
    live: bool = False
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    model: ModelSpec = ModelSpec()
    mode: str = DEFAULT_MODE
    smoothing: str = DEFAULT_SMOOTHING
    background: BackgroundSpec | str = DEFAULT_BACKGROUND
    output: object = None  # a path (str or os.PathLike): a file, or a PNG sequence's pattern
    rtmp: str | None = None
    vcam: bool = False
    preview: bool = False
    overwrite: bool = True
    max_frames: int | None = None
    batch: int | None = None
    sync: bool = False
    warp: bool = True
    progress: bool = True

    def replace(self, **changes) -> RunSpec:
        """A copy with ``changes`` (a batch's one spec, per file: its input and its output)."""
        return dataclasses.replace(self, **changes)
