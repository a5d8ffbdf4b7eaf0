"""Our own graph of the model: the ONNX file ONNX Runtime runs (TensorRT compiles the module itself).

It comes from :class:`u2live.model.FusedMask` and the weights the user chose, so the CPU engine never depends on a
third-party ``.onnx`` file. The ONNX export is cached (see :mod:`.engine_cache`): the first run exports once.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from .. import weights as weights_mod
from ..errors import BackendError
from ..model import FusedMask
from . import engine_cache, onnx_rewrite

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "d0"


def fused_mask(model: str, weights, *, pool_ceil: bool = True) -> torch.nn.Module:
    """The eval-mode, BatchNorm-folded network that returns only its mask [N, 1, S, S] (U2-Net's ``d0``)."""
    net = weights_mod.load(model, weights, pool_ceil=pool_ceil)
    return (net if model == "selfie" else FusedMask(net)).eval()


def onnx_bytes(module: torch.nn.Module, size: int) -> bytes:
    """ONNX (opset 17) of ``module`` for [N, 3, size, size] inputs; the batch axis stays dynamic."""
    example = torch.zeros(1, 3, size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice: it needs no onnxscript
        try:
            torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        except Exception as err:
            raise BackendError(f"exporting {type(module).__name__} to ONNX failed with torch {torch.__version__}: "
                               f"{type(err).__name__}: {err}") from err
    return buffer.getvalue()


def onnx_fields(model: str, size: int, module: torch.nn.Module) -> dict:
    """What the exported graph depends on: a change to any of these names a new file."""
    import onnx

    return {"kind": "onnx", "model": model, "size": size, "opset": OPSET, "torch": torch.__version__,
            "onnx": onnx.__version__, "rewrite": onnx_rewrite.REVISION, "weights": engine_cache.weights_hash(module)}


def cached_onnx(model: str, weights, size: int, *, log, directory: Path | None = None) -> tuple[Path, dict]:
    """The path of our exported FP32 graph for (model, weights, size), exporting it once if needed, with the exact
    rewrites of :mod:`.onnx_rewrite` (constant upsampling scales, single-map convolutions as taps) applied."""
    module = fused_mask(model, weights)
    fields = onnx_fields(model, size, module)
    path = engine_cache.artefact_path(directory or engine_cache.cache_dir(), f"{model}-{size}-fp32", fields, ".onnx")
    build = lambda tmp: tmp.write_bytes(onnx_rewrite.rewritten(onnx_bytes(module, size)))  # noqa: E731
    engine_cache.load_or_build(path, checked_onnx, build, log, f"ONNX graph of {model} at {size}x{size}",
                               action="exporting")
    return path, fields


def checked_onnx(path: Path) -> Path:
    """``path``, once ONNX's checker accepts the model in it; a damaged or truncated file raises."""
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    return path
