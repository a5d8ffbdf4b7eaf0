"""What porting MediaPipe Pose's segmentation to torch would take: the op types, tensor shapes and weights of the
BlazePose GHUM landmark models (``pose_landmark_full.tflite`` from the ``mediapipe`` wheel; ``_lite`` and ``_heavy``
from the npm package ``@mediapipe/pose``, which the wheel lacks) and of the pose detector that feeds them.

For each file: its size, inputs and outputs, a count of every op type, the number of weights, and the part of the
graph that only the segmentation output needs (its ancestors that no other output needs): what a port would add on
top of the shared trunk. Read with the ``tflite`` flatbuffer parser, as ``scripts/import_selfie.py`` does.

Usage (a venv with ``tflite``, e.g. /work/main/.venv):
``python benchmarks/pose_ops.py --npm DIR`` where DIR holds the unpacked npm package (``npm pack @mediapipe/pose``)
-> ``benchmarks/results/pose-ops.json``
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
WHEEL_MODULES = Path("/work/venvs/mediapipe/lib/python3.11/site-packages/mediapipe/modules")
SEGMENTATION = "Identity_2"  # the landmark models' [1, 256, 256, 1] segmentation logits


def op_name(model, op) -> str:
    import tflite

    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return code.CustomCode().decode()
    return next(k for k, v in vars(tflite.BuiltinOperator).items() if v == builtin and not k.startswith("_"))


def tensor(graph, index: int) -> dict:
    t = graph.Tensors(index)
    return {"name": t.Name().decode(), "shape": [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []}


def ancestors(graph, wanted: set[int]) -> set[int]:
    """The ops whose outputs the tensors ``wanted`` need, directly or not."""
    producer = {int(graph.Operators(i).Outputs(k)): i for i in range(graph.OperatorsLength())
                for k in range(graph.Operators(i).OutputsLength())}
    ops, todo = set(), list(wanted)
    while todo:
        index = producer.get(todo.pop())
        if index is None or index in ops:
            continue
        ops.add(index)
        op = graph.Operators(index)
        todo += [int(op.Inputs(k)) for k in range(op.InputsLength()) if op.Inputs(k) >= 0]
    return ops


def activations(model, graph) -> dict:
    """The fused activations of the convolutions (NONE, RELU, RELU6, ...), counted."""
    import tflite

    kinds = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
    found = collections.Counter()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = op_name(model, op)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD"):
            options = {"CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
                       "ADD": tflite.AddOptions}[name]()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            found[f"{name}+{kinds[options.FusedActivationFunction()]}"] += 1
    return dict(found.most_common())


def weights(model, graph) -> int:
    """Elements in the constant tensors (buffers with data), float16 or float32."""
    total = 0
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        if model.Buffers(t.Buffer()).DataLength() and t.ShapeLength():
            total += int(np.prod(t.ShapeAsNumpy()))
    return total


def describe(path: Path) -> dict:
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    outputs = [tensor(graph, graph.Outputs(i)) for i in range(graph.OutputsLength())]
    out = {"file": path.name, "bytes": path.stat().st_size, "subgraphs": model.SubgraphsLength(),
           "inputs": [tensor(graph, graph.Inputs(i)) for i in range(graph.InputsLength())], "outputs": outputs,
           "ops": dict(collections.Counter(op_name(model, graph.Operators(i))
                                           for i in range(graph.OperatorsLength())).most_common()),
           "fused_activations": activations(model, graph), "weights": weights(model, graph)}
    seg = [graph.Outputs(i) for i in range(graph.OutputsLength()) if outputs[i]["name"] == SEGMENTATION]
    if seg:
        others = {graph.Outputs(i) for i in range(graph.OutputsLength())} - set(seg)
        only = sorted(ancestors(graph, set(seg)) - ancestors(graph, others))
        out["segmentation_only"] = {
            "ops": dict(collections.Counter(op_name(model, graph.Operators(i)) for i in only).most_common()),
            "chain": [{"op": op_name(model, graph.Operators(i)),
                       "out": tensor(graph, graph.Operators(i).Outputs(0))["shape"]} for i in only
                      if op_name(model, graph.Operators(i)) != "DEQUANTIZE"]}
        out["ops_needed_by_segmentation"] = len(ancestors(graph, set(seg)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npm", type=Path, required=True, help="the unpacked @mediapipe/pose package")
    parser.add_argument("--out", type=Path, default=RESULTS / "pose-ops.json")
    args = parser.parse_args(argv)
    files = [WHEEL_MODULES / "pose_landmark" / "pose_landmark_full.tflite",
             args.npm / "pose_landmark_lite.tflite", args.npm / "pose_landmark_heavy.tflite",
             WHEEL_MODULES / "pose_detection" / "pose_detection.tflite"]
    found = {p.stem: describe(p) for p in files if p.is_file()}
    args.out.write_text(json.dumps(found, indent=1) + "\n")
    for name, d in found.items():
        print(name, d["bytes"], d["weights"], d["ops"], [o["shape"] for o in d["outputs"]])
        print("  segmentation only:", d.get("segmentation_only", {}).get("ops"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
