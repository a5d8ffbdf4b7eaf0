"""The ``cuda`` backend: PyTorch on an NVIDIA GPU, replayed from captured CUDA graphs.

GPU classes (see DESIGN.md): below compute capability 7.5 (Pascal GTX 10xx) FP16 runs at 1/64 rate, so the default
is FP32; from 7.5 (GTX 16xx, RTX, datacenter) it is FP16, channels_last. Either way the launch overhead of ~250
small kernels is removed by replaying one CUDA graph per batch size; a short last batch is padded to a captured size.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

from ..errors import BackendError
from .base import TorchSegmenter

FP16_MIN_CAPABILITY = (7, 5)
#: torch dtype per ``--precision`` for the torch GPU backends (tensorrt too; int8 is the cpu backend's alone); here,
#: not in base.py, which the cpu backend imports without torch
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def cuda_unavailable_reason() -> str | None:
    """None when torch sees a CUDA GPU it was built for, else one line saying why not."""
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            return f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)"
        return "torch sees no CUDA GPU (driver missing, or CUDA_VISIBLE_DEVICES hides it)"
    return unsupported_arch_reason(torch.cuda.get_device_capability(), torch.cuda.get_arch_list(),
                                   torch.cuda.get_device_name(), torch.version.cuda)


def unsupported_arch_reason(cap: tuple[int, int], arch_list: list[str], gpu: str, cuda: str | None) -> str | None:
    """None when this torch build carries kernels for a GPU of capability ``cap``, else one line.

    ``is_available()`` is true on a Pascal GTX 10xx (6.1) under a CUDA 13 build too, whose kernels start at sm_75:
    every launch would fail. A build runs a GPU when it has that exact ``sm_XY`` or a lower one of the same major
    (binary compatible), or a ``compute_XY`` (PTX) at or below it, which the driver compiles on first use.
    """
    if not arch_list:  # a build that does not say: let the backend try
        return None
    native = [tuple(map(int, divmod(int(a[3:]), 10))) for a in arch_list if a.startswith("sm_") and a[3:].isdigit()]
    ptx = [tuple(map(int, divmod(int(a[8:]), 10))) for a in arch_list if a.startswith("compute_") and a[8:].isdigit()]
    if any(a[0] == cap[0] and a <= cap for a in native) or any(a <= cap for a in ptx):
        return None
    return (f"{gpu} (compute capability {cap[0]}.{cap[1]}) is not supported by torch {torch.__version__} "
            f"(CUDA {cuda}, kernels for {' '.join(arch_list)}): install a torch build that includes "
            f"sm_{cap[0]}{cap[1]} (for Pascal GTX 10xx: a CUDA 12.6 build)")


@contextlib.contextmanager
def exact_fp32(dtype: torch.dtype):
    """For float32 work, cuDNN convolutions and matmuls in true FP32 for the duration (torch lets them run as TF32
    on Ampere and newer by default, 10 mantissa bits: 12% of U2-Net's mask pixels moved by over 2e-3 on an H200).
    A CUDA graph captured inside keeps the math it was captured with. No effect for other dtypes."""
    if dtype != torch.float32:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch >= 2.9 prefers fp32_precision; the flags below work in every release
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def masks_out(output: torch.Tensor, n: int) -> torch.Tensor:
    """[N, S, S] float32 masks, always a new tensor: ``output`` may be a CUDA graph's static buffer, overwritten by
    the next replay while the caller (another thread, in live mode) still reads the masks; ``.float()`` of a
    float32 tensor would return that very buffer."""
    return output[:n, 0].to(torch.float32, copy=True)


def capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device) if device.type == "cuda" else (0, 0)


def padded_batch(n: int, captured: set[int]) -> int:
    """The batch size to run ``n`` frames at: the smallest captured size that fits, else ``n`` (captured anew)."""
    fitting = [size for size in captured if size >= n]
    return min(fitting) if fitting else n


class TorchCUDASegmenter(TorchSegmenter):
    """Torch on the GPU: the model, the preprocessing (``predict_frames``) and the masks all stay on the device."""

    def __init__(self, *, device: str | torch.device | None = None, **options):
        # ``device`` other than CUDA is for tests: the same code path eagerly on CPU tensors, without graphs.
        self.device = torch.device(device) if device is not None else torch.device("cuda", torch.cuda.current_device())
        super().__init__(**options)
        if self.precision not in DTYPES:
            raise BackendError(f"backend cuda runs fp32 or fp16, got --precision {self.precision} "
                               "(int8 runs on --backend cpu)")
        from .export import fused_mask

        self.dtype = DTYPES[self.precision]
        self.module = fused_mask(self.model, self.weights).to(self.device, self.dtype)
        self.module = self.module.to(memory_format=torch.channels_last)
        self.graphs: dict[int, _CapturedGraph] = {}

    def default_precision(self) -> str:
        return "fp16" if capability(self.device) >= FP16_MIN_CAPABILITY else "fp32"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return cuda_unavailable_reason()

    @torch.inference_mode()
    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """[N, 3, S, S] float32 on ``device`` -> [N, S, S] float32 on ``device``."""
        n = batch.shape[0]
        batch = batch.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        if self.device.type != "cuda":
            with exact_fp32(self.dtype):
                return masks_out(self.module(batch), n)
        size = padded_batch(n, set(self.graphs))
        if size not in self.graphs:
            self.graphs[size] = _CapturedGraph(self.module, (size, 3, self.size, self.size), self.dtype, self.device)
        return masks_out(self.graphs[size].run(batch), n)

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else str(self.device)
        return f"{super().describe()} ({name}, CUDA graphs)"

    def _close(self) -> None:
        self.graphs.clear()


class _CapturedGraph:
    """One CUDA graph of the model for a fixed input shape; ``run`` copies the input in and replays it.

    Captured with ``capture_error_mode="thread_local"``: live mode captures on the segmentation worker (after a
    size switch) while the main thread keeps rendering on the GPU; under the default "global" mode a call unsafe
    during capture (a synchronising copy, say) made by the main thread would fail; "relaxed" would also hide this
    thread's own.
    """

    def __init__(self, module, shape, dtype, device):
        self.input = torch.zeros(shape, dtype=dtype, device=device).contiguous(memory_format=torch.channels_last)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with exact_fp32(dtype):
            with torch.cuda.stream(side):  # warm-up outside the graph: cuDNN picks its algorithms here
                for _ in range(3):
                    module(self.input)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self.output = module(self.input)  # [B, 1, S, S], lives in the graph's memory pool

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        self.input[: batch.shape[0]].copy_(batch, non_blocking=True)
        if batch.shape[0] < self.input.shape[0]:
            self.input[batch.shape[0]:].zero_()
        self.graph.replay()
        return self.output
