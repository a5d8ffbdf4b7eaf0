"""Finding the ``cpu`` backend's cached graph without importing torch.

A cached graph's name (:mod:`.engine_cache`) is a hash of what it was made from, the weights' values among them,
so finding it needs the network loaded, which needs torch: seconds of start-up on a small machine before an ONNX
Runtime session that needs neither. This index remembers, per (model, weights file as it is on disk, size,
precision, library versions), which graph that was; a later run with the same inputs opens it at once. Any change
(another weights file, the same file rewritten, another torch / onnx / onnxruntime / u2live) misses the index and
takes the full path, which records the new answer.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .. import __version__
from ..catalog import default_weights_path
from ..errors import U2LiveError
from . import engine_cache, onnx_rewrite


@dataclass(frozen=True)
class IndexEntry:
    path: Path  # the index file

    def lookup(self) -> Path | None:
        """The graph recorded for these inputs, if it is still there."""
        try:
            graph = Path(json.loads(self.path.read_text())["graph"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return graph if graph.is_file() else None

    def remember(self, graph: Path) -> None:
        try:
            engine_cache.write_atomically(self.path, lambda tmp: tmp.write_text(json.dumps({"graph": str(graph)})))
        except (U2LiveError, OSError):
            pass  # an unwritable cache only costs the next run its start-up time


def entry(model: str, weights, size: int, precision: str, directory: Path | None = None) -> IndexEntry | None:
    """The index entry of these inputs; None when the weights file cannot be found (the full path reports why)."""
    try:
        path = Path(weights) if weights is not None else default_weights_path(model)
        stat = path.stat()
    except (OSError, U2LiveError):
        return None
    fields = {"model": model, "size": size, "precision": precision, "u2live": __version__,
              "rewrite": onnx_rewrite.REVISION,
              "weights": [str(path.resolve()), stat.st_size, stat.st_mtime_ns],
              "versions": {name: _version(name) for name in ("torch", "onnx", "onnxruntime")}}
    stem = f"index-{model}-{size}-{precision}"
    return IndexEntry(engine_cache.artefact_path(directory or engine_cache.cache_dir(), stem, fields, ".json"))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"
