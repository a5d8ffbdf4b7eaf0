"""Static INT8 quantisation of our exported graph with ONNX Runtime (QDQ), calibrated on real frames.

The calibration frames ship in ``u2live/assets/calibration``: frames of OpenCV's sample clips (``Megamind.avi``,
``vtest.avi``) and sample photos, none of them the authors' reference images the quality test compares on. The
quantised graph is cached beside the FP32 export; calibration runs once per (weights, size, versions).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..catalog import input_spec
from ..errors import BackendError
from ..images import read_rgb
from ..preprocess import to_model_input
from . import engine_cache, export
from .int8_recipe import RECIPE, reduce_range

CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "assets" / "calibration"
OUTLIER_FACTOR = 12.0


def calibration_batches(size: int, directory: Path = CALIBRATION_DIR, scheme: str = "u2net") -> list[np.ndarray]:
    """One [1, 3, size, size] float32 input per calibration frame (the model's preprocessing ``scheme``)."""
    paths = sorted(directory.glob("*.jpg"))
    if not paths:
        raise BackendError(f"no calibration frames in {directory}: reinstall u2live")
    return [to_model_input([read_rgb(path)], size, scheme) for path in paths]


def calibration_hash(directory: Path = CALIBRATION_DIR) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.jpg")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _reader(batches: list[np.ndarray]):
    from onnxruntime.quantization import CalibrationDataReader

    class Frames(CalibrationDataReader):
        def __init__(self):
            self._feeds = iter([{export.INPUT_NAME: batch} for batch in batches])

        def get_next(self):
            return next(self._feeds, None)

    return Frames()


def _last_convs(graph) -> list[str]:
    """The side and fusion convolutions (those feeding the output): kept in FP32, they cost ~nothing and set the
    mask's edges."""
    return [node.name for node in graph.node
            if node.op_type == "Conv" and ("/side" in node.name or "outconv" in node.name)]


def calibrate(fp32_path: Path, batches: list[np.ndarray]):
    """ONNX Runtime's calibration (``TensorsData``: min and max of every activation tensor of the FP32 graph over
    ``batches``); the costly part of quantising: one run of an augmented graph per frame."""
    import tempfile

    from onnxruntime.quantization import CalibrationMethod, create_calibrator

    with tempfile.TemporaryDirectory(prefix="u2live-calib-") as tmp:
        calibrator = create_calibrator(Path(fp32_path), augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=CalibrationMethod.MinMax)
        calibrator.collect_data(_reader(batches))
        return calibrator.compute_data()


def activation_ranges(tensors) -> dict[str, float]:
    """(max - min) of every calibrated activation tensor."""
    return {name: float(np.max(data.range_value[1]) - np.min(data.range_value[0])) for name, data in tensors.items()}


def outlier_nodes(graph, ranges: dict[str, float], factor: float = OUTLIER_FACTOR) -> list[str]:
    """Nodes that produce or consume an activation whose range is ``factor`` x the median range.

    One 8-bit scale over such a tensor leaves the ordinary features it is concatenated with a few levels (in
    U2-Net† the stage2d decoder's last skip reaches 228 where the median tensor spans 11): quantising those few
    nodes costs MAE 0.08 on the reference images; keeping them in FP32 brings it to ~0.003 at a small cost.
    """
    median = float(np.median(list(ranges.values())))
    wide = {name for name, span in ranges.items() if span > factor * median}
    return [node.name for node in graph.node if wide & (set(node.input) | set(node.output))]


def quantize_int8(fp32_path: Path, out_path: Path, size: int, *, weights_7bit: bool | None = None,
                  scheme: str = "u2net") -> None:
    """Writes the QDQ INT8 graph of ``fp32_path`` to ``out_path``, calibrated on the bundled frames at ``size``
    (the model's preprocessing ``scheme``), with 7-bit weights or not (default: as this CPU needs,
    :func:`.int8_recipe.reduce_range`)."""
    batches = calibration_batches(size, scheme=scheme)
    weights_7bit = reduce_range() if weights_7bit is None else weights_7bit
    quantize_calibrated(fp32_path, out_path, batches, calibrate(fp32_path, batches), weights_7bit=weights_7bit)


def quantize_calibrated(fp32_path: Path, out_path: Path, batches: list[np.ndarray], tensors, *,
                        weights_7bit: bool) -> None:
    """Writes the QDQ INT8 graph of ``fp32_path`` quantised by the recipe from calibrated ``tensors`` (of
    :func:`calibrate` on ``batches``). Where ``quantize_static`` takes a calibration cache (ONNX Runtime from
    2026), it quantises from those ranges; older versions calibrate again on ``batches`` (same ranges, twice the
    time)."""
    import inspect
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    graph = onnx.load(str(fp32_path)).graph
    keep_fp32 = sorted(set(_last_convs(graph) + outlier_nodes(graph, activation_ranges(tensors))))
    # U8 activations with S8 weights: the fast VNNI path on x86 (S8S8 ran 3x slower here).
    options = dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                   per_channel=True, reduce_range=weights_7bit, calibrate_method=CalibrationMethod.MinMax,
                   nodes_to_exclude=keep_fp32)
    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        quantize_static(str(fp32_path), str(out_path), _reader(batches), **options)
        return
    from onnxruntime.quantization.calibrate import save_tensors_data

    with tempfile.TemporaryDirectory(prefix="u2live-ranges-") as tmp:
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(tensors, cache)
        quantize_static(str(fp32_path), str(out_path), None, calibration_cache_path=str(cache), **options)


def cached_int8(model: str, weights, size: int, *, log, directory: Path | None = None,
                weights_7bit: bool | None = None) -> Path:
    """The path of the INT8 graph for (model, weights, size), exporting and calibrating once if needed; with 7-bit
    weights or not (default: as this CPU needs; ``scripts/build_graphs.py`` makes both)."""
    import onnxruntime

    weights_7bit = reduce_range() if weights_7bit is None else weights_7bit
    fp32_path, fields = export.cached_onnx(model, weights, size, log=log, directory=directory)
    fields = {**fields, "kind": "onnx-int8", "onnxruntime": onnxruntime.__version__,
              "recipe": {**RECIPE, "reduce_range": weights_7bit},
              "calibration": calibration_hash()}
    path = engine_cache.artefact_path(directory or engine_cache.cache_dir(), f"{model}-{size}-int8", fields, ".onnx")
    frames = len(list(CALIBRATION_DIR.glob("*.jpg")))
    scheme = input_spec(model).scheme
    build = lambda tmp: quantize_int8(fp32_path, tmp, size, weights_7bit=weights_7bit, scheme=scheme)  # noqa: E731
    engine_cache.load_or_build(path, export.checked_onnx, build, log,
                               f"INT8 graph of {model} at {size}x{size} (on {frames} frames)", action="calibrating")
    return path
