"""The differences the tests' numeric bounds guard, measured on this machine (benchmarks/results/tolerances.md).

    python benchmarks/tolerance_probe.py [--json OUT]   # with ATEN_CPU_CAPABILITY=default|avx2|avx512 to vary torch

Each figure is the largest absolute difference between two computations a test compares: our rewritten ONNX graph
against the plain export (ONNX Runtime), ONNX Runtime against torch eager, our bilinear upsampling against
OpenCV's. Kernels differ by CPU, so run it wherever a bound is in doubt; the machine is recorded with the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
IMAGES = REPO / "tests" / "data" / "u2net" / "test_images"


def rewrite_and_runtimes(size: int) -> dict:
    """Rewritten vs plain graph, and ONNX Runtime vs torch eager, on the 18 reference images at ``size``."""
    import torch

    from u2live.backends import export, onnx_rewrite
    from u2live.backends.onnx_runtime import session
    from u2live.images import read_rgb
    from u2live.preprocess import to_model_input

    images = [read_rgb(p) for p in sorted(IMAGES.iterdir())]
    model = export.fused_mask("u2netp", None)
    plain = export.onnx_bytes(model, size)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p.onnx").write_bytes(plain)
        (Path(tmp) / "r.onnx").write_bytes(onnx_rewrite.rewritten(plain))
        ours, rewritten = session(Path(tmp) / "p.onnx", 1), session(Path(tmp) / "r.onnx", 1)
        rewrite, runtimes = [], []
        for i in range(0, len(images), 2):
            batch = to_model_input(images[i:i + 2], size)
            a = ours.run(None, {export.INPUT_NAME: batch})[0]
            rewrite.append(float(np.abs(rewritten.run(None, {export.INPUT_NAME: batch})[0] - a).max()))
            with torch.inference_mode():
                eager = model(torch.from_numpy(batch)).numpy()
            runtimes.append(float(np.abs(a - eager).max()))
    return {f"rewrite_vs_plain_{size}": max(rewrite), f"rewrite_vs_plain_{size}_first_pair": rewrite[0],
            f"onnxruntime_vs_torch_{size}": max(runtimes)}


def upsampling() -> dict:
    import cv2
    import torch

    from u2live.kernels_torch import upsample_mask

    torch.manual_seed(0)
    worst = 0.0
    for _ in range(20):
        mask = torch.rand(40, 40)
        ours = upsample_mask(mask, 66, 90).numpy()
        worst = max(worst, float(np.abs(ours - cv2.resize(mask.numpy(), (90, 66),
                                                             interpolation=cv2.INTER_LINEAR)).max()))
    return {"upsample_vs_opencv": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import os

    import torch

    from u2live.bench.machine import describe, machine_info

    result = {"machine": describe(machine_info()), "torch": torch.__version__,
              "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "(torch's choice)"),
              "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for name, measure in (("96", lambda: rewrite_and_runtimes(96)), ("320", lambda: rewrite_and_runtimes(320)),
                          ("upsampling", upsampling)):
        try:
            result.update(measure())
        except ImportError as err:  # a library this machine lacks: say so, measure the rest
            result[f"skipped_{name}"] = str(err)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
