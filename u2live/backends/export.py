"""Our own graphs of the model: an ONNX file for ONNX Runtime and a ``torch.export`` program for TensorRT.

Both come from :class:`u2live.model.FusedMask` and the weights the user chose, so the CPU engine never depends on a
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
from . import engine_cache

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "input", "d0"


def fused_mask(model: str, weights, *, pool_ceil: bool = True) -> FusedMask:
    """The eval-mode, BatchNorm-folded network that returns only ``d0``."""
    return FusedMask(weights_mod.load(model, weights, pool_ceil=pool_ceil)).eval()


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
            "onnx": onnx.__version__, "weights": engine_cache.weights_hash(module)}


def cached_onnx(model: str, weights, size: int, *, log, directory: Path | None = None) -> tuple[Path, dict]:
    """The path of our exported FP32 graph for (model, weights, size), exporting it once if needed."""
    module = fused_mask(model, weights)
    fields = onnx_fields(model, size, module)
    path = engine_cache.artefact_path(directory or engine_cache.cache_dir(), f"{model}-{size}-fp32", fields, ".onnx")
    if not _valid_onnx(path):
        what = "ONNX graph"
        log(f"u2live: exporting {what} {path} (once; later runs reuse it)")
        data = onnx_bytes(module, size)
        engine_cache.write_atomically(path, lambda tmp: tmp.write_bytes(data))
    return path, fields


def _valid_onnx(path: Path) -> bool:
    if not path.is_file():
        return False
    import onnx

    try:
        onnx.checker.check_model(onnx.load(str(path)))
    except Exception:  # damaged or truncated: export again
        return False
    return True


def ceil_mode_pools_onnx(model_proto) -> list[str]:
    """Names of the ONNX MaxPool nodes that use ceil mode (TensorRT's converter rejects these)."""
    found = []
    for node in model_proto.graph.node:
        if node.op_type == "MaxPool" and any(a.name == "ceil_mode" and a.i for a in node.attribute):
            found.append(node.name)
    return found


def export_program(module: torch.nn.Module, example: torch.Tensor):
    """``torch.export`` of ``module`` on ``example``: the graph torch-tensorrt's dynamo frontend compiles."""
    try:
        return torch.export.export(module, (example,))
    except Exception as err:
        raise BackendError(f"torch.export of the model failed: {type(err).__name__}: {err}") from err


def ceil_mode_pools_program(program) -> list[str]:
    """Names of the max-pooling nodes of an exported program that use ceil mode."""
    found = []
    for node in program.graph.nodes:
        if node.op == "call_function" and "max_pool2d" in str(node.target):
            ceil = node.args[5] if len(node.args) > 5 else node.kwargs.get("ceil_mode", False)
            if ceil:
                found.append(node.name)
    return found


def pool_count_program(program) -> int:
    return sum(node.op == "call_function" and "max_pool2d" in str(node.target) for node in program.graph.nodes)
