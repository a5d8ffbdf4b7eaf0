"""Our selfie network on a CUDA GPU: FP32 (TF32 off) and FP16 masks against the original's own masks kept in
tests/data/selfie, and the model-only time of one forward at batch 1, 8 and 32 (eager, and a CUDA graph at batch 1).

    python benchmarks/selfie_gpu.py OUT.json

Needs only torch, numpy and Pillow (the GPU machine has no OpenCV guaranteed).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live.images import read_rgb  # noqa: E402
from u2live.selfie_model import load_selfie  # noqa: E402

PICTURES = {"girl": "girl.png", "hockey": "hockey.png", "im_14": "im_14.png", "bike": "bike.jpg"}


def sample(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """benchmarks/selfie_parity.py's nearest-neighbour sample at pixel centres."""
    rows = ((np.arange(height) + 0.5) * rgb.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * rgb.shape[1] / width).astype(np.int64)
    return np.ascontiguousarray(rgb[rows][:, cols])


def cases() -> tuple[torch.Tensor, np.ndarray]:
    images = REPO / "tests" / "data" / "u2net" / "test_images"
    x = np.stack([sample(read_rgb(images / f), 256, 256) for f in PICTURES.values()])
    theirs = np.stack([np.asarray(Image.open(REPO / "tests" / "data" / "selfie" / f"{n}.png")) for n in PICTURES])
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0, theirs.astype(np.float64) / 65535.0


def gaps(net, x: torch.Tensor, theirs: np.ndarray, dtype) -> dict:
    with torch.no_grad():
        ours = net.to(dtype)(x.cuda().to(dtype)).float()[:, 0].cpu().numpy()
    gap = np.abs(ours - theirs)
    return {"largest": float(gap.max()), "worst mean": float(gap.mean(axis=(1, 2)).max()),
            "flipped": float(((ours > 0.5) != (theirs > 0.5)).mean())}


def median_ms(run, repeats: int = 50) -> float:
    for _ in range(10):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def graph_ms(net, x: torch.Tensor) -> float:
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(3):
            net(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        net(x)
    return median_ms(graph.replay)


def timings(net) -> dict:
    out = {}
    for name, dtype in (("fp16", torch.float16), ("fp32", torch.float32)):
        net = net.to(dtype)
        for batch in (1, 8, 32):
            x = torch.rand(batch, 3, 256, 256, device="cuda", dtype=dtype)
            with torch.no_grad():
                out[f"{name} batch {batch} eager ms"] = median_ms(lambda: net(x))
        out[f"{name} batch 1 CUDA graph ms"] = graph_ms(net, torch.rand(1, 3, 256, 256, device="cuda", dtype=dtype))
    return out


def main(target: str) -> None:
    torch.backends.cudnn.allow_tf32 = False  # real FP32: torch defaults cuDNN convolutions to TF32
    torch.backends.cuda.matmul.allow_tf32 = False
    net = load_selfie().cuda()
    x, theirs = cases()
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
              "fp32 vs original": gaps(net, x, theirs, torch.float32),
              "fp16 vs original": gaps(net, x, theirs, torch.float16), "timings": timings(net)}
    Path(target).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
