"""The ``tensorrt`` backend: the whole network compiled by torch-tensorrt into one TensorRT engine (FP16 default).

Portable across torch-tensorrt releases (DESIGN.md, "TensorRT"): FP16 is asked for by making the model and its
input ``.half()``, never through ``enabled_precisions``; the network is built with floor pooling (ceil-mode pooling
is not converted, and at sizes that are multiples of 32 the two are identical); every operator must land in
TensorRT (``require_full_compilation`` alone is not enforced by every release, so :func:`check_fully_converted`
checks the result). Engines are saved as exported programs and named by everything that invalidates them.

torch-tensorrt is imported lazily, only here, through :func:`import_torch_tensorrt`: the one boundary tests replace
with a named fake, since TensorRT cannot run without an NVIDIA GPU.
"""
from __future__ import annotations

import importlib.util
import operator
import os
from pathlib import Path

import torch

from ..console import stderr_line
from ..errors import BackendError, raise_interrupt_behind
from . import engine_cache
from .base import TorchSegmenter
from .torch_cuda import DTYPES, FP16_MIN_CAPABILITY, capability, cuda_unavailable_reason, masks_out, padded_batch

MISSING = 'torch-tensorrt is not installed: pip install "u2live[tensorrt]"'
#: the releases this module is written for (setup.cfg's extra pins the same): from 2.10 a network's own dtypes
#: decide its precision (explicit typing) and ``save`` takes ``arg_inputs``; 2.14 removes options the typing
#: default rests on. Each release pins one torch minor version (torch-tensorrt 2.13 needs torch 2.13).
SUPPORTED = ((2, 10), (2, 13))


def import_torch_tensorrt():
    try:
        import torch_tensorrt
    except ImportError as err:
        raise_interrupt_behind(err)  # Ctrl-C while it loads is not "not installed"
        raise BackendError(MISSING) from err
    reason = unsupported_release_reason(getattr(torch_tensorrt, "__version__", ""))
    if reason:
        raise BackendError(reason)
    return torch_tensorrt


def unsupported_release_reason(version: str) -> str | None:
    """None for a torch-tensorrt release this backend is written for, else one line with the fix."""
    try:
        release = tuple(int(part) for part in version.split("+")[0].split(".")[:2])
    except ValueError:
        release = ()
    low, high = SUPPORTED
    if len(release) == 2 and low <= release <= high:
        return None
    torch_minor = ".".join(torch.__version__.split(".")[:2])
    return (f"torch-tensorrt {version or '(unknown version)'} is not supported: u2live's TensorRT path is written "
            f"for {low[0]}.{low[1]} to {high[0]}.{high[1]}; install the release matching your torch "
            f"({torch.__version__}), e.g. pip install \"torch-tensorrt=={torch_minor}.*\"")


def torch_tensorrt_missing_reason() -> str | None:
    return MISSING if importlib.util.find_spec("torch_tensorrt") is None else None


def gpu_reason() -> str | None:
    """None when the GPU suits TensorRT FP16, else why not (and what to use instead)."""
    reason = cuda_unavailable_reason()
    if reason:
        return reason
    device = torch.device("cuda", torch.cuda.current_device())
    cap = capability(device)
    if cap < FP16_MIN_CAPABILITY:
        return (f"{torch.cuda.get_device_name(device)} has compute capability {cap[0]}.{cap[1]} < 7.5 (slow FP16, "
                "no TensorRT 10): --backend cuda runs FP32 with a CUDA graph there")
    return None


# A source checkout (editable install) keeps its engines in the project's own engines/ folder.
CHECKOUT_ENGINES = Path(__file__).resolve().parents[2] / "engines"


def engine_dir() -> Path:
    """``$U2LIVE_ENGINE_DIR``; else the checkout's ``engines/`` when run from a source checkout; else ``engines/``
    in u2live's cache folder (an installed package: every working directory shares it)."""
    if os.environ.get("U2LIVE_ENGINE_DIR"):
        return Path(os.environ["U2LIVE_ENGINE_DIR"])
    if (CHECKOUT_ENGINES / "README.md").is_file():
        return CHECKOUT_ENGINES
    return engine_cache.cache_dir() / "engines"


def _tensorrt_version() -> str:
    try:
        import tensorrt
    except ImportError:
        return "none"
    return getattr(tensorrt, "__version__", "unknown")


def engine_fields(tt, *, model: str, size: int, batch: int, precision: str, weights: str, device) -> dict:
    """Everything an engine depends on: any change names a different file (an engine only loads on the TensorRT
    version and GPU capability it was built for)."""
    cap = capability(device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    return {"kind": "tensorrt", "torch": torch.__version__, "torch_tensorrt": getattr(tt, "__version__", "unknown"),
            "tensorrt": _tensorrt_version(), "gpu": gpu, "capability": f"{cap[0]}.{cap[1]}", "dtype": precision,
            "model": model, "size": size, "batch": batch, "pooling": "floor", "weights": weights}


def compile_engine(tt, module: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    """torch-tensorrt's dynamo compile of ``module`` (already in the engine's dtype) for ``example``'s shape."""
    try:
        compiled = tt.compile(module, ir="dynamo", inputs=[example], min_block_size=1,
                              require_full_compilation=True)
    except Exception as err:
        raise BackendError(f"torch-tensorrt could not compile the model: {type(err).__name__}: {err}") from err
    check_fully_converted(compiled)
    return compiled


def check_fully_converted(compiled: torch.fx.GraphModule) -> None:
    """Raises unless every compute node runs in a TensorRT engine (submodules ``_run_on_acc_*``)."""
    fallbacks = []
    for node in compiled.graph.nodes:
        if node.op == "call_module" and not str(node.target).startswith("_run_on_acc"):
            fallbacks.append(str(node.target))
        elif node.op == "call_function" and node.target is not operator.getitem:
            fallbacks.append(getattr(node.target, "__name__", str(node.target)))
    if fallbacks:
        raise BackendError(f"TensorRT did not convert the whole graph: {len(fallbacks)} part(s) would run in "
                           f"PyTorch ({', '.join(fallbacks[:5])}); expected one TensorRT engine")


def save_engine(tt, compiled, path: Path, example: torch.Tensor) -> None:
    tt.save(compiled, str(path), output_format="exported_program", arg_inputs=[example])


def load_engine(tt, path: Path, example: torch.Tensor) -> torch.nn.Module:
    """The engine at ``path``, run once on ``example`` so that a stale engine fails here (and gets rebuilt)."""
    module = tt.load(str(path)).module()
    with torch.inference_mode():
        module(example)
    return module


def build_or_load(*, model: str, weights, size: int, batch: int, precision: str, device: torch.device,
                  directory: Path | None = None, log=None, rebuild: bool = False) -> tuple[torch.nn.Module, Path]:
    """The engine for these settings: loaded when a good one exists, else built once (with a message)."""
    from .export import fused_mask

    log = log or stderr_line
    tt = import_torch_tensorrt()
    net = fused_mask(model, weights, pool_ceil=False)
    fields = engine_fields(tt, model=model, size=size, batch=batch, precision=precision,
                           weights=engine_cache.weights_hash(net), device=device)
    # .pt2: torch.export warns that saved programs under any other suffix will become an error
    path = engine_cache.artefact_path(directory or engine_dir(), f"{model}-{size}-b{batch}-{precision}", fields,
                                      ".pt2")
    example = torch.zeros(batch, 3, size, size, device=device, dtype=DTYPES[precision])

    def build(tmp: Path) -> None:
        save_engine(tt, compile_engine(tt, net.to(device, DTYPES[precision]), example), tmp, example)

    if rebuild and path.exists():
        path.unlink()
    engine = engine_cache.load_or_build(path, lambda p: load_engine(tt, p, example), build, log, "TensorRT engine")
    return engine, path


class TensorRTSegmenter(TorchSegmenter):
    """One TensorRT engine per batch size (built once, cached on disk); a short batch is padded to a built size."""

    def __init__(self, *, device: str | torch.device | None = None, batch: int = 1, directory: Path | None = None,
                 **options):
        # ``device`` other than CUDA is for tests driving a fake torch-tensorrt on CPU tensors.
        self.device = torch.device(device) if device is not None else torch.device("cuda", torch.cuda.current_device())
        super().__init__(**options)
        if self.precision not in DTYPES:
            raise BackendError(f"backend tensorrt runs fp16 or fp32, got --precision {self.precision} "
                               "(int8 runs on --backend cpu)")
        self.directory = directory
        self.engines: dict[int, torch.nn.Module] = {}
        self.paths: dict[int, Path] = {}
        self._engine(batch)

    def default_precision(self) -> str:
        return "fp16"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return gpu_reason() or torch_tensorrt_missing_reason()

    def _engine(self, batch: int) -> torch.nn.Module:
        if batch not in self.engines:
            self.engines[batch], self.paths[batch] = build_or_load(
                model=self.model, weights=self.weights, size=self.size, batch=batch, precision=self.precision,
                device=self.device, directory=self.directory, log=self.log)
        return self.engines[batch]

    @torch.inference_mode()
    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] float32 on ``device`` -> [N, S, S] float32 on ``device``."""
        n = batch.shape[0]
        size = padded_batch(n, set(self.engines))
        x = batch.to(self.device, DTYPES[self.precision])
        if size > n:  # the engine's shapes are static: pad the short batch
            x = torch.cat([x, x.new_zeros((size - n, *x.shape[1:]))])
        return masks_out(self._engine(size)(x), n)  # a copy: a later call must not write into masks still held

    def describe(self) -> str:
        return f"{super().describe()} (TensorRT engine {', '.join(p.name for p in self.paths.values())})"

    def _close(self) -> None:
        self.engines.clear()
