"""The ``cpu`` backend: ONNX Runtime on our own export of the model, FP32 or static INT8.

Measured side by side on a 2-core AVX-512 machine (``benchmarks/cpu_backends.py``), ONNX Runtime on our graph runs
as fast as on the official ``u2netp.onnx`` and faster than eager PyTorch (channels_last), so it is the CPU engine;
``torch`` stays registered as the plain reference.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import BackendError, raise_interrupt_behind
from .base import Segmenter

PRECISIONS = ("fp32", "int8")


def cpu_threads() -> int:
    """The cores this process may run on: one compute thread per core reaches the FP32 peak (more only contend).
    ``OMP_NUM_THREADS``, where set (a batch worker's share, a Ray actor's ``num_cpus``), caps it."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    share = os.environ.get("OMP_NUM_THREADS", "")
    return min(cores, int(share)) if share.isdigit() and int(share) > 0 else cores


def session(path, threads: int | None = None):
    """An ONNX Runtime CPU session on ``path`` with every graph optimisation and ``threads`` compute threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1  # the graph is one chain: parallelism lives inside each convolution
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # After a run ORT's idle threads spin for a while by default; in the pipeline the very next work (smoothing,
    # compositing, encoding) needs those same cores, so they must sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeSegmenter(Segmenter):
    """ONNX Runtime on the CPU. ``fp32`` (default) runs our exported graph; ``int8`` its QDQ quantisation
    calibrated on real frames (masks within MAE 0.005 of FP32; ~2.2x faster on CPUs with VNNI, only ~1.05-1.3x on
    AVX2 without it, whose 8-bit multiply-adds run no faster than FP32 FMAs: ``benchmarks/int8_kernels.py``)."""

    def __init__(self, **options):
        super().__init__(**options)
        if self.precision not in PRECISIONS:
            raise BackendError(f"backend cpu runs {' or '.join(PRECISIONS)}, got --precision {self.precision}")
        from . import graph_index, prebuilt

        self.threads = self.threads_wanted or cpu_threads()
        # the fast starts, without torch: a graph shipped for the bundled weights, else one built here before
        self.graph_path = prebuilt.graph(self.model, self.weights, self.size, self.precision, log=self.log)
        index = None if self.graph_path else graph_index.entry(self.model, self.weights, self.size, self.precision)
        self.graph_path = self.graph_path or (index.lookup() if index else None)
        self.session = self._open(self.graph_path) if self.graph_path else None
        if self.session is None:
            from .graph_build import build

            self.graph_path = build(self.model, self.weights, self.size, self.precision, log=self.log)
            try:
                self.session = session(self.graph_path, self.threads)
            except Exception as err:
                raise BackendError(f"ONNX Runtime cannot load {self.graph_path}: {type(err).__name__}: {err}; "
                                   "delete it to export again") from err
            if index:
                index.remember(self.graph_path)
        self.input_name = self.session.get_inputs()[0].name

    def _open(self, path):
        try:
            return session(path, self.threads)
        except Exception:  # damaged: the full path checks, exports again and says so
            return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise_interrupt_behind(err)  # Ctrl-C while it loads is not "not installed"
            return "onnxruntime is not installed (pip install onnxruntime)"
        return None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(None, {self.input_name: batch})[0][:, 0]  # [N, 1, S, S] -> [N, S, S]

    def describe(self) -> str:
        import onnxruntime

        threads = f"{self.threads} thread{'' if self.threads == 1 else 's'}"
        return f"{super().describe()} (onnxruntime {onnxruntime.__version__}, {threads})"

    def _close(self) -> None:
        self.session = None
