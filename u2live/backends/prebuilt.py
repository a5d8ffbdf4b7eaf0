"""Graphs built ahead and shipped with the package: the ``cpu`` backend starts at once with the bundled weights.

Exporting a model to ONNX and calibrating its INT8 graph take tens of seconds to a minute; for the sizes ``video``
and ``webcam --size auto`` run by default, ``scripts/build_graphs.py`` does it once, ahead, and the graphs ship in
``u2live/assets/graphs``: per model and precision one solid xz archive (``u2netp-int8.tar.xz``: the INT8 graphs of
every size share their weights, so twelve of them take ~2 MB) and per model a manifest (``u2netp.json``: the
bundled weights' sha256, each graph's size, precision, weight range and sha256, and what made them).

A shipped graph is used only with the bundled weights (same sha256) and when the manifest's recipe is this code's;
on first use the graphs for this CPU are unpacked into the cache (``prebuilt/``), and each is checked against its
sha256 on every load. Torch-free. Anything else is built once, as before (:mod:`.graph_build`).
"""
from __future__ import annotations

import hashlib
import json
import tarfile
from functools import cache, lru_cache
from pathlib import Path

from ..adaptive import SIZES
from ..catalog import ASSETS, BUNDLED
from . import engine_cache, onnx_rewrite
from .int8_recipe import RECIPE, reduce_range

#: What is built ahead and shipped, (model, size, precision): U2-Net†'s live sizes (webcam --size auto) in INT8,
#: video's default (INT8 at 320) among them, and FP32 at 320 (still images, the Python API); the person model as
#: --model auto runs it on the CPU (FP32 at the size it was trained at). One line per model here.
PREBUILT: tuple[tuple[str, int, str], ...] = (
    *(("u2netp", size, "int8") for size in SIZES),
    ("u2netp", 320, "fp32"),
    ("selfie", 256, "fp32"),
)
GRAPHS = ASSETS / "graphs"


def graph(model: str, weights, size: int, precision: str, *, log, directory: Path | None = None) -> Path | None:
    """The shipped graph for these inputs, unpacked into the cache and verified; None when none is shipped for
    them (other weights, size or precision) or it cannot be used (then the caller builds one, as before)."""
    entry = _entry(model, weights, size, precision)
    if entry is None:
        return None
    manifest, wanted = entry
    target = _unpacked_path(wanted, directory)
    if _sha256_of(target) == wanted["sha256"]:
        return target
    try:
        _unpack(manifest, wanted, directory)
    except Exception as err:  # noqa: BLE001 - damaged, truncated, or no xz in this Python: the cure is the same
        log(f"u2live: the shipped graph {wanted['file']} cannot be used ({type(err).__name__}: {err}); "
            "building one instead (reinstalling u2live restores it)")
        return None
    return target


def shipped(model: str, size: int, precision: str) -> bool:
    """Whether PREBUILT lists (model, size, precision)."""
    return (model, size, precision) in PREBUILT


def manifest_path(model: str) -> Path:
    return GRAPHS / f"{model}.json"


def _entry(model: str, weights, size: int, precision: str) -> tuple[dict, dict] | None:
    """(manifest, graph entry) when a graph for these inputs ships and fits this code and this CPU."""
    if not shipped(model, size, precision) or model not in BUNDLED:
        return None
    path = Path(weights) if weights is not None else BUNDLED[model]
    manifest = _manifest(model)
    if manifest is None or not _is_bundled(path, model, manifest["weights_sha256"]):
        return None
    made = manifest["made_with"]
    if made["rewrite"] != onnx_rewrite.REVISION or (precision == "int8" and made["recipe"] != RECIPE):
        return None  # the code changed since the graphs were built: scripts/build_graphs.py makes them again
    weights_7bit = reduce_range() if precision == "int8" else None
    for wanted in manifest["graphs"]:
        if (wanted["size"], wanted["precision"], wanted["weights_7bit"]) == (size, precision, weights_7bit):
            return manifest, wanted
    return None


@cache
def _manifest(model: str) -> dict | None:
    try:
        return json.loads(manifest_path(model).read_text())
    except (OSError, ValueError):
        return None


def _is_bundled(path: Path, model: str, sha256: str) -> bool:
    try:
        if path.resolve() != BUNDLED[model].resolve():
            return False
        stat = path.stat()
    except OSError:
        return False
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns) == sha256


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """The sha256 of a file, once per (path, size, modification time) in a process."""
    return _sha256_of(Path(path))


def _sha256_of(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _unpacked_path(entry: dict, directory: Path | None) -> Path:
    """Where a shipped graph is unpacked: named by its sha256, so another build is never mistaken for it."""
    name = Path(entry["file"])
    return (directory or engine_cache.cache_dir()) / "prebuilt" / f"{name.stem}-{entry['sha256'][:16]}{name.suffix}"


def _unpack(manifest: dict, wanted: dict, directory: Path | None) -> None:
    """Unpacks ``wanted`` from its archive, and on the way every other graph of it made for this CPU (read anyway:
    xz reads an archive from its start), each checked against its sha256 before it is written."""
    mine = {entry["file"]: entry for entry in manifest["graphs"]
            if entry["archive"] == wanted["archive"] and entry["weights_7bit"] in (None, reduce_range())}
    with tarfile.open(GRAPHS / wanted["archive"], "r:xz") as archive:
        for member in archive:
            entry = mine.get(member.name)
            if entry is None or not member.isfile():
                continue
            data = archive.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ValueError(f"{member.name} in {wanted['archive']} does not match its sha256")
            target = _unpacked_path(entry, directory)
            if _sha256_of(target) != entry["sha256"]:
                engine_cache.write_atomically(target, lambda tmp: tmp.write_bytes(data))  # noqa: B023 - called now
            if entry is wanted:
                return
    raise ValueError(f"{wanted['file']} is not in {wanted['archive']}")
