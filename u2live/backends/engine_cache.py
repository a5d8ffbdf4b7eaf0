"""Where compiled engines and exported graphs live, and how their file names are derived.

A cached artefact is named by a hash of everything that makes it invalid when it changes (library versions, GPU,
dtype, shapes, weights), so a mismatched file is never picked up, and a matching one is reused on every start.
Writes go to a temporary file first and are renamed into place, so a crash never leaves a half-written engine
under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import outputs
from ..errors import BackendError

if TYPE_CHECKING:
    import torch


def cache_dir() -> Path:
    """``$U2LIVE_CACHE``, else ``$XDG_CACHE_HOME/u2live``, else ``~/.cache/u2live``."""
    if os.environ.get("U2LIVE_CACHE"):
        return Path(os.environ["U2LIVE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "u2live"


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 of the module's parameters and buffers (names, shapes, dtypes, values), whatever file they came from."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{list(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def key(fields: dict) -> str:
    """A short stable hash of ``fields`` (order-independent)."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artefact_path(directory: Path, stem: str, fields: dict, suffix: str) -> Path:
    """``directory/<stem>-<hash of fields><suffix>``: the stem is for people, the hash decides."""
    return Path(directory) / f"{stem}-{key(fields)}{suffix}"


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Calls ``write(tmp)`` for a temporary path beside ``path``, then renames it into place
    (:func:`u2live.outputs.write_atomically`; a cache folder that cannot be made is a BackendError)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BackendError(f"cannot create cache folder {path.parent}: {err.strerror or err}") from err
    return outputs.write_atomically(path, write)


def load_or_build(path: Path, load: Callable[[Path], object], build: Callable[[Path], None], log,
                  what: str, *, action: str = "building") -> object:
    """``load(path)``; when the file is missing or fails to load, ``build`` it once and load again, saying so on
    one line before (``action`` names the work, e.g. exporting or calibrating) and one after (how long it took).

    A corrupt or incompatible file is rebuilt, never a crash; a good one is never rebuilt.
    """
    if path.is_file():
        try:
            return load(path)
        except Exception as err:  # any load failure means "stale or damaged": the cure is the same
            log(f"u2live: {what} {path} cannot be loaded ({type(err).__name__}: {_first_line(err)}); rebuilding it")
    else:
        log(f"u2live: {action} {what} (once; later runs reuse it: {path})")
    started = time.perf_counter()
    write_atomically(path, build)
    log(f"u2live: {what} ready in {time.perf_counter() - started:.1f} s")
    return load(path)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "no message"
