"""The ``cuda`` backend: PyTorch on an NVIDIA GPU, replayed from captured CUDA graphs.

GPU classes (see DESIGN.md): below compute capability 7.5 (Pascal GTX 10xx) FP16 runs at 1/64 rate, so the default
is FP32; from 7.5 (GTX 16xx, RTX, datacenter) it is FP16, channels_last. Either way the launch overhead of ~250
small kernels is removed by replaying one CUDA graph per batch size; a short last batch is padded to a captured size.
"""
from __future__ import annotations

import torch

from ..errors import BackendError
from .base import TorchSegmenter

FP16_MIN_CAPABILITY = (7, 5)
#: torch dtype per ``--precision`` for the torch GPU backends (tensorrt too; int8 is the cpu backend's alone); here,
#: not in base.py, which the cpu backend imports without torch
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def cuda_unavailable_reason() -> str | None:
    """None when torch sees a CUDA GPU, else one line saying why not."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (install a CUDA build of torch)"
    return "torch sees no CUDA GPU (driver missing, or CUDA_VISIBLE_DEVICES hides it)"


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
            return self.module(batch)[:, 0].float()
        size = padded_batch(n, set(self.graphs))
        if size not in self.graphs:
            self.graphs[size] = _CapturedGraph(self.module, (size, 3, self.size, self.size), self.dtype, self.device)
        return self.graphs[size].run(batch)[:n, 0].float()  # float() copies out of the graph's static output

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else str(self.device)
        return f"{super().describe()} ({name}, CUDA graphs)"

    def _close(self) -> None:
        self.graphs.clear()


class _CapturedGraph:
    """One CUDA graph of the model for a fixed input shape; ``run`` copies the input in and replays it."""

    def __init__(self, module, shape, dtype, device):
        self.input = torch.zeros(shape, dtype=dtype, device=device).contiguous(memory_format=torch.channels_last)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up outside the graph: cuDNN picks its algorithms here
            for _ in range(3):
                module(self.input)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = module(self.input)  # [B, 1, S, S], lives in the graph's memory pool

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        self.input[: batch.shape[0]].copy_(batch, non_blocking=True)
        if batch.shape[0] < self.input.shape[0]:
            self.input[batch.shape[0]:].zero_()
        self.graph.replay()
        return self.output
