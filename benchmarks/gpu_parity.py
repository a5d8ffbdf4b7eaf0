"""GPU parity and GPU-only comparisons, for ``benchmarks/gpu_check.sh``: JSON with a pass/fail per check.

    python benchmarks/gpu_parity.py --json OUT.json [--device cuda|cpu] [--images DIR]
    python benchmarks/gpu_parity.py --json OUT.json --compile-only

- masks: ``--backend cuda`` at fp16 and fp32 against the ``cpu`` backend (ONNX Runtime, FP32) on the authors'
  reference images, mean absolute error of the min-max normalised 320x320 masks (bar: 0.005);
- the same for the person model (``selfie``, 256x256), its probabilities compared as they are;
- the GTX-class policy (FP32 with a captured CUDA graph, what a Pascal card gets) against FP16 (bar: 0.005);
- a composite made on the GPU against the same composite made on the CPU from the same mask, mean absolute
  difference in 8-bit levels (bar: 2);
- with ``--compile-only`` (its own step, last: it may take minutes): the model-only time of ``torch.compile``
  (default mode: max-autotune tunes every convolution and did not finish in 150 s on an H200) beside the CUDA-graph
  replay, same precision, same batch, so the faster one can be kept per GPU class.

``--device cpu`` is the dry run on a machine without a GPU: every step runs, on CPU tensors (the ``cuda`` backend
runs eagerly there, without graphs), so the script itself is tested; its figures say nothing about a GPU.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live import backends  # noqa: E402
from u2live.backends.torch_cuda import TorchCUDASegmenter  # noqa: E402
from u2live.images import read_rgb  # noqa: E402
from u2live.preprocess import normalise_minmax  # noqa: E402

MASK_BAR = 0.005
COMPOSITE_BAR = 2.0
SIZE = 320


def reference_images(folder: Path, limit: int | None) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [read_rgb(p) for p in paths[:limit]]


#: every bundled network, at the size each runs by default: U2-Net† and the person model
MODELS = {"u2netp": SIZE, "selfie": 256}


def masks_of(segmenter, images: list[np.ndarray]) -> np.ndarray:
    """[N, S, S] masks, one image per call (as ``u2live segment`` runs them): U2-Net's min-max normalised, the
    person model's probabilities as they are."""
    masks = np.stack([segmenter.predict([image])[0] for image in images])
    return normalise_minmax(masks) if segmenter.model == "u2netp" else masks


def cuda_segmenter(device: str, precision: str, model: str = "u2netp"):
    """The ``cuda`` backend; on ``--device cpu`` the same class on CPU tensors (its documented test mode)."""
    if device == "cuda":
        return backends.create("cuda", model=model, size=MODELS[model], precision=precision, log=lambda line: None)
    return TorchCUDASegmenter(device="cpu", model=model, size=MODELS[model], precision="fp32", log=lambda line: None)


def mask_checks(images: list[np.ndarray], device: str, model: str = "u2netp") -> dict:
    with backends.create("cpu", model=model, size=MODELS[model], precision="fp32", log=lambda line: None) as cpu:
        reference = masks_of(cpu, images)
    checks, masks = {}, {}
    for precision in ("fp16", "fp32"):
        with cuda_segmenter(device, precision, model) as segmenter:
            masks[precision] = masks_of(segmenter, images)
            described = segmenter.describe()
        errors = np.abs(masks[precision] - reference).mean(axis=(1, 2))
        checks[f"{model} cuda {precision} vs cpu"] = _check(errors, MASK_BAR, backend=described)
    gtx = np.abs(masks["fp32"] - masks["fp16"]).mean(axis=(1, 2))
    checks[f"{model} gtx policy (fp32 + CUDA graph) vs fp16"] = _check(gtx, MASK_BAR)
    return checks


def _check(errors: np.ndarray, bar: float, **extra) -> dict:
    return {"mean": round(float(errors.mean()), 6), "worst": round(float(errors.max()), 6), "bar": bar,
            "passed": bool(errors.mean() <= bar), "worst_within_bar": bool(errors.max() <= bar), **extra}


def composite_check(images: list[np.ndarray], device: str) -> dict:
    """The same mask composited over a colour and over the blurred frame, on the GPU and on the CPU."""
    from u2live.backgrounds import parse_background
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    with backends.create("cpu", size=SIZE, log=lambda line: None) as cpu:
        masks = [cpu.predict([image])[0] for image in images]
    diffs = {}
    for spec in ("color:0,177,64", "blur"):
        outputs = {}
        for where in dict.fromkeys(("cpu", device)):
            stages = Stages(mode="composite", background=parse_background(spec), device=where)
            on = (lambda x: x) if where == "cpu" else (lambda x: torch.from_numpy(np.array(x)).to(where))
            outputs[where] = [stages.render(on(image), on(mask), 0.0, PipelineStats()).astype(np.float32)
                              for image, mask in zip(images, masks)]
            stages.close()
        diffs[spec] = float(np.mean([np.abs(a - b).mean() for a, b in zip(outputs["cpu"], outputs[device])]))
    worst = max(diffs.values())
    return {"mean_levels": {k: round(v, 4) for k, v in diffs.items()}, "bar": COMPOSITE_BAR,
            "passed": worst <= COMPOSITE_BAR}


def compile_check(device: str, batches=(1, 8), calls: int = 50) -> dict:
    """``torch.compile`` beside the CUDA-graph replay of the ``cuda`` backend, model only, FP16, 320x320."""
    rows = []
    with cuda_segmenter(device, "fp16") as segmenter:
        compiled = torch.compile(segmenter.module)
        for batch in batches:
            x = torch.rand(batch, 3, SIZE, SIZE, device=device)
            graphs = _time(lambda: segmenter.infer_tensor(x), calls, device)
            half = x.to(segmenter.dtype).contiguous(memory_format=torch.channels_last)
            started = time.perf_counter()
            with torch.inference_mode():
                compiled(half)  # the compilation itself, reported apart
            compile_s = time.perf_counter() - started
            with torch.inference_mode():
                inductor = _time(lambda: compiled(half), calls, device)
            rows.append({"batch": batch, "cuda_graph_ms": graphs, "torch_compile_ms": inductor,
                         "compile_seconds": round(compile_s, 1),
                         "faster": "cuda graph" if graphs <= inductor else "torch.compile"})
    return {"precision": "fp16", "size": SIZE, "rows": rows}


def _time(call, calls: int, device: str) -> float:
    """Median milliseconds per call after warm-up, synchronising the device around each call."""
    for _ in range(3):
        call()
    times = []
    for _ in range(calls):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--images", type=Path, default=REPO / "tests" / "data" / "u2net" / "test_images")
    parser.add_argument("--limit", type=int, default=None, help="Use only the first N images (dry run).")
    parser.add_argument("--compile-only", action="store_true",
                        help="Only time torch.compile beside the CUDA graph and add it to the existing --json file "
                             "(a separate step: it can take minutes, and must not cost the parity results).")
    args = parser.parse_args(argv)
    if args.compile_only:
        result = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
        result["compile"] = compile_check(args.device)
        _write(args.json, result)
        return 0
    images = reference_images(args.images, args.limit)
    result = {"device": args.device, "images": len(images),
              "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
              "torch": torch.__version__, "masks": {}}
    for model in MODELS:
        result["masks"].update(mask_checks(images, args.device, model))
    _write(args.json, result)  # kept even if a later check dies
    result["composite"] = composite_check(images, args.device)
    _write(args.json, result)
    passed = all(c["passed"] for c in result["masks"].values()) and result["composite"]["passed"]
    return 0 if passed else 1


def _write(path: Path, result: dict) -> None:
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
