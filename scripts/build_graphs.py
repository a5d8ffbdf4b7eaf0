"""Build the graphs shipped in u2live/assets/graphs: every (model, size, precision) of PREBUILT
(u2live/backends/prebuilt.py), from the bundled weights, by the same code that builds them on a user's machine.

    python scripts/build_graphs.py            # every model of PREBUILT
    python scripts/build_graphs.py u2netp     # only these

INT8 graphs are made twice, with 8-bit and with 7-bit weights (which of them a CPU runs depends on VNNI,
u2live/backends/int8_recipe.py). Writes, per model, ``<model>-<precision>.tar.xz`` (one solid archive: graphs that
share their weights compress to little more than one) and ``<model>.json`` (the manifest the package reads:
sha256 of the weights and of every graph, and what made them), then prints what was written and its size.
Run it again whenever the export, its rewrites, the INT8 recipe, the calibration frames or the bundled weights
change (tests/test_prebuilt.py fails until then).
"""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

from u2live import __version__
from u2live.backends import export, graph_build, onnx_rewrite, prebuilt, quantize
from u2live.backends.int8_recipe import RECIPE
from u2live.catalog import BUNDLED


def build_model(model: str, cache: Path) -> dict:
    """Build every graph of ``model`` listed in PREBUILT into ``cache``; write its archives and manifest."""
    graphs = []
    for name, size, precision in prebuilt.PREBUILT:
        if name != model:
            continue
        for weights_7bit in ((False, True) if precision == "int8" else (None,)):
            started = time.perf_counter()
            path = _build(model, size, precision, weights_7bit, cache)
            variant = "" if weights_7bit is None else ("-w7" if weights_7bit else "-w8")
            graphs.append({"file": f"{model}-{size}-{precision}{variant}.onnx", "size": size, "precision": precision,
                           "weights_7bit": weights_7bit, "archive": f"{model}-{precision}.tar.xz",
                           "bytes": path.stat().st_size, "sha256": _sha256(path.read_bytes()), "path": path})
            print(f"{graphs[-1]['file']}: {graphs[-1]['bytes']} bytes in {time.perf_counter() - started:.1f} s",
                  flush=True)
    archives = {archive: _write_archive(prebuilt.GRAPHS / archive, [g for g in graphs if g["archive"] == archive])
                for archive in dict.fromkeys(g["archive"] for g in graphs)}
    manifest = {"model": model, "weights_sha256": _sha256(BUNDLED[model].read_bytes()),
                "made_with": _made_with(), "archives": archives,
                "graphs": [{k: v for k, v in g.items() if k != "path"} for g in graphs]}
    prebuilt.manifest_path(model).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _build(model: str, size: int, precision: str, weights_7bit: bool | None, cache: Path) -> Path:
    log = lambda line: print(line, flush=True)  # noqa: E731
    if precision == "int8":
        return quantize.cached_int8(model, None, size, log=log, directory=cache, weights_7bit=weights_7bit)
    if precision == "fp32":
        return export.cached_onnx(model, None, size, log=log, directory=cache)[0]
    return graph_build.make(model=model, weights=None, size=size, precision=precision, log=log)


def _write_archive(path: Path, graphs: list[dict]) -> dict:
    """A reproducible solid tar.xz of ``graphs`` in their order (no times, owners or modes that vary)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", preset=9 | lzma.PRESET_EXTREME, format=tarfile.USTAR_FORMAT) as tar:
        for graph in graphs:
            data = graph["path"].read_bytes()
            info = tarfile.TarInfo(graph["file"])
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return {"bytes": path.stat().st_size, "sha256": _sha256(buffer.getvalue())}


def _made_with() -> dict:
    versions = {name: metadata.version(name) for name in ("torch", "onnx", "onnxruntime")}
    return {"u2live": __version__, **versions, "opset": export.OPSET, "rewrite": onnx_rewrite.REVISION,
            "recipe": RECIPE, "calibration": quantize.calibration_hash()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_face_graph() -> None:
    """The face detector's full-range graph (``--model auto`` looks for faces with it), xz-compressed; its sha256
    goes into ``u2live.face_detect.SHIPPED_GRAPHS``."""
    import hashlib
    import lzma

    from u2live.face_detect import SHIPPED_GRAPHS
    from u2live.face_model import load_face, onnx_bytes

    data = onnx_bytes(load_face(variant="full"))
    name, recorded = SHIPPED_GRAPHS["full"]
    (prebuilt.GRAPHS / name).write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    sha256 = hashlib.sha256(data).hexdigest()
    note = "" if sha256 == recorded else f"; put it in u2live.face_detect.SHIPPED_GRAPHS (it says {recorded})"
    size_mb = (prebuilt.GRAPHS / name).stat().st_size / 1e6
    print(f"wrote {prebuilt.GRAPHS / name}: {size_mb:.2f} MB, sha256 {sha256}{note}")


def main(models: list[str]) -> None:
    models = models or list(dict.fromkeys(model for model, _, _ in prebuilt.PREBUILT))
    prebuilt.GRAPHS.mkdir(parents=True, exist_ok=True)
    total = 0
    with tempfile.TemporaryDirectory(prefix="u2live-graphs-") as cache:
        for model in models:
            manifest = build_model(model, Path(cache))
            for archive, about in manifest["archives"].items():
                print(f"wrote {prebuilt.GRAPHS / archive}: {about['bytes'] / 1e6:.2f} MB")
                total += about["bytes"]
    print(f"shipped graphs of {', '.join(models)}: {total / 1e6:.2f} MB")
    build_face_graph()


if __name__ == "__main__":
    main(sys.argv[1:])
