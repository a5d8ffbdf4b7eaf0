"""What INT8 gains on the CPU it runs on, and what the graph rewrites gained: ONNX Runtime, one thread, CPU time.

1. **The kernel.** The model's largest convolution (stage1d's first: 128 -> 64 channels, 3x3, at 320x320, 7.55 of
   the model's 19.8 GMAC) as an FP32 ``Conv`` and as an INT8 ``QLinearConv`` (u8 activations, s8 per-channel
   weights): multiply-accumulates per second of one core. On AVX2 without VNNI, ONNX Runtime's U8S8 kernel multiplies
   with VPMADDUBSW + VPMADDWD, which AMD Zen 2 issues on one pipe only, against FP32's two FMA pipes: the same peak
   there; with AVX-512 VNNI one VPDPBUSD does both. The report names the CPU and its vector instructions.
2. **The whole model** at 320, one call at a time, interleaved: the official ``u2netp.onnx``; our FP32 and INT8
   graphs from the plain export (as before the rewrites) and with :mod:`u2live.backends.onnx_rewrite`.
3. **Where the INT8 graph's time goes**: ONNX Runtime's profiler, per operator type.

One thread and CPU time (``time.thread_time``; with one intra-op thread ONNX Runtime computes in the calling thread)
keep the figures steady when other work shares the machine; minima and medians are both written.

    python benchmarks/int8_kernels.py [--calls 6]   # -> benchmarks/results/int8-kernels.json and .md
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live.backends import export, onnx_rewrite, quantize  # noqa: E402
from u2live.backends.onnx_runtime import session  # noqa: E402
from u2live.bench.machine import describe, finished, machine_info  # noqa: E402

REMBG_ONNX = REPO / ".cache/rembg/rembg/u2netp.onnx"
GMAC_MODEL = 19.8


def largest_conv(int8: bool) -> tuple[bytes, np.ndarray, float]:
    """(model bytes, input, GMAC) of the 128 -> 64 3x3 convolution at 320x320, FP32 or INT8 (QLinearConv)."""
    from onnx import TensorProto, helper
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    shape, out = [1, 128, 320, 320], [1, 64, 320, 320]
    weight = rng.normal(0, 0.05, (64, 128, 3, 3)).astype(np.float32)
    if int8:
        scales = (np.abs(weight).reshape(64, -1).max(1) / 127).astype(np.float32)
        inits = [nh.from_array(np.array(v, t), n) for n, v, t in [("xs", 0.02, np.float32), ("xz", 0, np.uint8),
                                                                   ("ys", 0.05, np.float32), ("yz", 0, np.uint8)]]
        inits += [nh.from_array(np.round(weight / scales[:, None, None, None]).astype(np.int8), "W"),
                  nh.from_array(scales, "ws"), nh.from_array(np.zeros(64, np.int8), "wz"),
                  nh.from_array(np.zeros(64, np.int32), "B")]
        node = helper.make_node("QLinearConv", ["x", "xs", "xz", "W", "ws", "wz", "ys", "yz", "B"], ["y"],
                                pads=[1] * 4, kernel_shape=[3, 3])
        kind, x = TensorProto.UINT8, rng.integers(0, 255, shape, dtype=np.uint8)
    else:
        inits = [nh.from_array(weight, "W"), nh.from_array(np.zeros(64, np.float32), "B")]
        node = helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1] * 4, kernel_shape=[3, 3])
        kind, x = TensorProto.FLOAT, rng.random(shape, dtype=np.float32)
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", kind, shape)],
                              [helper.make_tensor_value_info("y", kind, out)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), x, 64 * 128 * 9 * 320 * 320 / 1e9


def interleaved(runs: dict, calls: int) -> dict[str, dict[str, float]]:
    """name -> {min_ms, median_ms} of one-thread CPU time per call, the names taking turns."""
    for run in runs.values():
        run()  # warm-up
    times = collections.defaultdict(list)
    for _ in range(calls):
        for name, run in runs.items():
            start = time.thread_time()
            run()
            times[name].append(1000 * (time.thread_time() - start))
    return {name: {"min_ms": min(t), "median_ms": float(np.median(t))} for name, t in times.items()}


def caller(path: Path, x: np.ndarray):
    s = session(path, threads=1)
    feed = {s.get_inputs()[0].name: x}
    return lambda: s.run(None, feed)


def graphs(folder: Path) -> dict[str, Path]:
    """Our graphs at 320: plain export and rewritten, FP32 and INT8 (the INT8 ones calibrated here, ~1 min each)."""
    module = export.fused_mask("u2netp", None)
    plain = export.onnx_bytes(module, 320)
    paths = {"ours fp32, plain export": folder / "plain.onnx", "ours fp32, rewritten": folder / "rewritten.onnx"}
    paths["ours fp32, plain export"].write_bytes(plain)
    paths["ours fp32, rewritten"].write_bytes(onnx_rewrite.rewritten(plain))
    for source, name in [("ours fp32, plain export", "ours int8, plain export"),
                         ("ours fp32, rewritten", "ours int8, rewritten (default)")]:
        paths[name] = folder / f"{name.split(',')[1].split()[0]}-int8.onnx"
        quantize.quantize_int8(paths[source], paths[name], 320)
    return paths


def op_profile(path: Path, x: np.ndarray, calls: int = 3) -> dict[str, float]:
    """Milliseconds per call by operator type (ONNX Runtime's profiler, one thread)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.enable_profiling = 1, True
    options.profile_file_prefix = str(path.parent / "profile")
    s = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(calls):
        s.run(None, {"input": x})
    by_op = collections.Counter()
    for event in json.loads(Path(s.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"] / 1000 / calls
    return dict(by_op.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "int8-kernels")
    args = parser.parse_args()
    machine = machine_info()
    x = np.random.default_rng(1).random((1, 3, 320, 320), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        convs = {}
        for name, int8 in [("fp32 Conv", False), ("int8 QLinearConv", True)]:
            model_bytes, conv_input, gmac = largest_conv(int8)
            (Path(tmp) / f"{int8}.onnx").write_bytes(model_bytes)
            convs[name] = caller(Path(tmp) / f"{int8}.onnx", conv_input)
        conv = interleaved(convs, args.calls)
        for row in conv.values():
            row["gmac_per_s"] = gmac / (row["min_ms"] / 1000)
        paths = {"official u2netp.onnx (reference)": REMBG_ONNX, **graphs(Path(tmp))}
        model = interleaved({name: caller(path, x) for name, path in paths.items()}, args.calls)
        ops = op_profile(paths["ours int8, rewritten (default)"], x)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": finished(machine),
              "calls": args.calls, "largest_conv": conv, "model_320": model,
              "int8_ops_ms": ops, "int8_quantize": {**quantize.RECIPE, "reduce_range": quantize.reduce_range()}}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(report(result))
    print(report(result))


def report(r: dict) -> str:
    conv = "".join(f"| {name} | {row['min_ms']:.1f} | {row['median_ms']:.1f} | {row['gmac_per_s']:.1f} |\n"
                   for name, row in r["largest_conv"].items())
    ref = r["model_320"]["official u2netp.onnx (reference)"]["min_ms"]
    model = "".join(f"| {name} | {row['min_ms']:.0f} | {row['median_ms']:.0f} | {row['min_ms'] / ref:.2f} |\n"
                    for name, row in r["model_320"].items())
    total = sum(r["int8_ops_ms"].values())
    ops = "".join(f"| {op} | {ms:.1f} | {100 * ms / total:.0f}% |\n" for op, ms in list(r["int8_ops_ms"].items())[:8])
    peak = max(row["gmac_per_s"] for row in r["largest_conv"].values())
    return (f"`python benchmarks/int8_kernels.py`, {r['date']}, {describe(r['machine'])}; one ONNX Runtime "
            f"thread, CPU time per call, {r['calls']} interleaved calls.\n\n"
            f"The largest convolution (128 -> 64, 3x3, 320x320):\n\n| kernel | min ms | median ms | GMAC/s |\n"
            f"|---|---:|---:|---:|\n{conv}\nThe whole model at 320 (floor at that kernel rate: "
            f"{GMAC_MODEL / peak * 1000:.0f} ms of convolution):\n\n| graph | min ms | median ms | min x reference |\n"
            f"|---|---:|---:|---:|\n{model}\nThe default INT8 graph by operator (profiler, ms per call):\n\n"
            f"| operator | ms | share |\n|---|---:|---:|\n{ops}")


if __name__ == "__main__":
    main()
