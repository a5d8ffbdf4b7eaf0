"""Which files a batch processes and where each result goes, decided before any work starts.

INPUTS are files and folders. A folder means the videos directly inside it (``recursive``: in its sub-folders too,
their layout mirrored under the output folder). Each input ``x.ext`` becomes ``OUT_DIR/<sub-folders>/x<suffix>``.
An output that already exists is a finished result (outputs are written under a temporary name and moved into
place only when complete; an interrupted or failed run keeps its frames as ``<stem>.partial<suffix>``, never under
the final name: see :mod:`u2live.outputs`), so it is skipped unless ``redo`` asks to replace it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..outputs import refuse_overwriting_inputs

#: what a folder input contributes: the extensions of the containers FFmpeg commonly holds video in
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".flv",
                              ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv"})


@dataclass(frozen=True)
class Task:
    """One file of the batch: read ``input``, write ``output``; ``frames`` from the header when it says (else None)."""

    input: Path
    output: Path
    frames: int | None = None


@dataclass
class Plan:
    tasks: list[Task]  # to process, in input order
    finished: list[Task]  # outputs already there: skipped

    @property
    def total_frames(self) -> int | None:
        counts = [task.frames for task in self.tasks]
        return None if not counts or None in counts else sum(counts)


def plan_batch(inputs, out_dir, *, suffix: str = ".mp4", recursive: bool = False, redo: bool = False,
               also_read: dict | None = None) -> Plan:
    """The batch for ``inputs`` (files and folders). Raises InputError for a missing input, a folder with no videos,
    an output that would land on an input or on a file in ``also_read`` ({path: what it is}: --bg, --weights),
    and two inputs that would be written to one output."""
    if not suffix.startswith(".") or len(suffix) < 2 or os.sep in suffix:
        raise InputError(f"--suffix expects an extension such as .mp4 or .mkv, got {suffix!r}")
    pairs = [(source, Path(out_dir) / relative.with_suffix(suffix))
             for source, relative in _expand(inputs, recursive)]
    refuse_overwriting_inputs([(out, source) for source, out in pairs],
                              [*((source, "input") for source, _ in pairs), *(also_read or {}).items()])
    tasks, finished = [], []
    for source, out in pairs:
        done = out.exists() and not redo
        (finished if done else tasks).append(Task(source, out, None if done else header_frames(source)))
    return Plan(tasks, finished)


def _expand(inputs, recursive: bool):
    """(input file, its output path relative to the output folder) for every input, in order."""
    for item in map(Path, inputs):
        if item.is_file():
            yield item, Path(item.name)
        elif item.is_dir():
            found = sorted(p for p in (item.rglob("*") if recursive else item.iterdir())
                           if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                deeper = "" if recursive else " (use --recursive for its sub-folders)"
                raise InputError(f"no videos in the folder {item}{deeper}")
            yield from ((path, path.relative_to(item)) for path in found)
        else:
            raise InputError(f"input not found: {item}")


def header_frames(path: Path) -> int | None:
    """The video stream's frame count from the container header, for the progress bar; None when unknown or the
    file cannot be opened (that error is reported when the file's turn comes)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0] if container.streams.video else None
            return int(stream.frames) if stream is not None and stream.frames else None
    except (av.FFmpegError, OSError):
        return None
