"""Produce u2live/assets/face_short.pth and face_full.pth from Google MediaPipe's own face detection .tflite files,
and print their sha256 (paste them into ``FACE_SHA256`` in u2live/face_model.py).

    pip install tflite                  # the flatbuffer parser: needed by this script only
    python scripts/import_face.py       # uses the mediapipe wheel scripts/import_selfie.py downloads and pins

Sources, both in ``mediapipe==0.10.21``'s wheel: face_detection_short_range.tflite (``short``) and
face_detection_full_range_sparse.tflite (``full``; MediaPipe's face_detection_full_range.pbtxt runs this file, and
the wheel has no dense one). Each weight is float16 behind a DEQUANTIZE op; in the full model about half of them
are also stored sparse behind a DENSIFY op (dense leading axes, the last axis in compressed-sparse-row form), which
this script expands. The convolutions are taken in graph order and mapped onto our modules in the order a forward
pass runs them, checking each one's kind, stride, shapes (weights, bias, output), fused ReLU and dilation. The
files keep float16: exact.
"""
from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's u2live, not another installed one
sys.path.insert(0, str(ROOT / "scripts"))

import import_selfie  # noqa: E402  (the pinned wheel, its download and check; TFLite -> torch weight layouts)
from u2live import face_model  # noqa: E402
from u2live.weights import sha256_of  # noqa: E402

CACHE, WHEEL = import_selfie.CACHE, import_selfie.WHEEL
MEMBER = "mediapipe/modules/face_detection/{}.tflite"
SOURCES = {  # variant -> (file in the wheel, its sha256)
    "short": ("face_detection_short_range", "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "full": ("face_detection_full_range_sparse",
             "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"),
}
RELU = 1  # TFLite's ActivationFunctionType.RELU
CSR = 1  # TFLite's DimensionType.SPARSE_CSR


def tflite_bytes(variant: str) -> bytes:
    name, expected = SOURCES[variant]
    data = zipfile.ZipFile(import_selfie.wheel()).read(MEMBER.format(name))
    if (got := hashlib.sha256(data).hexdigest()) != expected:
        sys.exit(f"{name}.tflite: sha256 {got}, expected {expected}")
    return data


def graph_convolutions(data: bytes) -> list[dict]:
    """Each convolution of the graph in op order: kind, options, output shape, float32 weight and bias (TFLite
    layout)."""
    import tflite

    ops = tflite.BuiltinOperator
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    source = {}  # tensor index -> the stored tensor behind DEQUANTIZE / DENSIFY ops
    found = []
    for index in range(graph.OperatorsLength()):
        op = graph.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin in (ops.DEQUANTIZE, ops.DENSIFY):
            source[int(op.Outputs(0))] = source.get(int(op.Inputs(0)), int(op.Inputs(0)))
        elif builtin in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D):
            output = graph.Tensors(int(op.Outputs(0))).ShapeAsNumpy()
            weights = [stored(model, graph.Tensors(source[int(op.Inputs(i))])) for i in (1, 2)]
            found.append({"kind": "depthwise" if builtin == ops.DEPTHWISE_CONV_2D else "conv",
                          **import_selfie._builtin_options(op, builtin), "weight": weights[0], "bias": weights[1],
                          "output": (int(output[3]), int(output[1]), int(output[2])),
                          "name": graph.Tensors(source[int(op.Inputs(1))]).Name().decode()})
    return found


def stored(model, tensor) -> np.ndarray:
    """A float16 weight tensor as float32 (exact), expanded where it is stored sparse."""
    import tflite

    if tensor.Type() != tflite.TensorType.FLOAT16:
        sys.exit(f"{tensor.Name().decode()}: type {tensor.Type()}, expected FLOAT16")
    values = np.frombuffer(model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes(), dtype="<f2")
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
    dense = values if tensor.Sparsity() is None else densified(tensor, shape, values)
    return dense.reshape(shape).astype(np.float32)


def densified(tensor, shape: tuple, values: np.ndarray) -> np.ndarray:
    """TFLite's sparse layout as this model uses it (axes in order, no blocks, every axis dense but the last, which
    is compressed sparse rows over the flattened leading axes) expanded to a dense array; any other layout stops."""
    sparsity = tensor.Sparsity()
    dims = [sparsity.DimMetadata(i) for i in range(sparsity.DimMetadataLength())]
    order = list(sparsity.TraversalOrderAsNumpy())
    formats = [d.Format() for d in dims]
    if (order != list(range(len(shape))) or sparsity.BlockMapLength() or formats[-1] != CSR
            or any(formats[:-1]) or [d.DenseSize() for d in dims[:-1]] != list(shape[:-1])):
        sys.exit(f"{tensor.Name().decode()}: sparse layout order {order} formats {formats} is not handled")
    segments, indices = _index_vector(dims[-1], "ArraySegments"), _index_vector(dims[-1], "ArrayIndices")
    rows = int(np.prod(shape[:-1]))
    if len(segments) != rows + 1 or segments[-1] != len(values) or len(indices) != len(values):
        sys.exit(f"{tensor.Name().decode()}: {len(values)} values do not fit its {rows} sparse rows")
    dense = np.zeros((rows, shape[-1]), dtype=values.dtype)
    dense[np.repeat(np.arange(rows), np.diff(segments)), indices] = values
    return dense


def _index_vector(dim, field: str) -> np.ndarray:
    """A DimensionMetadata's segments or indices: a union of int32, uint16 and uint8 vectors."""
    import tflite

    kinds = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}
    vector = kinds[getattr(dim, f"{field}Type")()]()
    table = getattr(dim, field)()
    vector.Init(table.Bytes, table.Pos)
    return vector.ValuesAsNumpy().astype(np.int64)


def our_convolutions(net: nn.Module, side: int) -> list[tuple[nn.Conv2d, tuple, bool]]:
    """Each Conv2d of ``net`` in the order a forward pass runs it, with its output's (C, H, W) and whether a ReLU
    module follows it in an ``nn.Sequential`` (what the graph fuses into the convolution)."""
    followed = {seq[i] for seq in net.modules() if isinstance(seq, nn.Sequential)
                for i in range(len(seq) - 1) if isinstance(seq[i + 1], nn.ReLU)}
    order = []
    hooks = [m.register_forward_hook(lambda mod, _, out: order.append((mod, tuple(out.shape[1:]), mod in followed)))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, side, side))
    finally:
        for hook in hooks:
            hook.remove()
    return order


def mismatch(conv: dict, module: nn.Conv2d, output: tuple, relu: bool) -> str | None:
    """Why ``conv`` of the graph cannot be ``module``, or None."""
    kind = "depthwise" if module.groups > 1 and module.groups == module.in_channels else "conv"
    weight = import_selfie.torch_layout(conv)
    checks = {
        "kind": (conv["kind"], kind),
        "stride": (tuple(conv["stride"]), tuple(module.stride)),
        "weight shape": (tuple(weight.shape), tuple(module.weight.shape)),
        "bias shape": (tuple(conv["bias"].shape), tuple(module.bias.shape)),
        "output shape": (conv["output"], output),
        "fused ReLU": (conv["activation"] == RELU, relu),
        "other fused activation": (conv["activation"] in (0, RELU), True),
        "dilation": (tuple(conv["dilation"]), (1, 1)),
        "depth multiplier": (conv.get("multiplier", 1), 1),
    }
    wrong = [f"{what} {got} (ours {want})" for what, (got, want) in checks.items() if got != want]
    return ", ".join(wrong) or None


def imported(variant: str) -> nn.Module:
    """Our network with every weight of MediaPipe's ``variant`` graph, mapped in execution order."""
    convs = graph_convolutions(tflite_bytes(variant))
    net = face_model.NETWORKS[variant]()
    ours = our_convolutions(net, face_model.INPUT_SIZE[variant])
    if len(convs) != len(ours):
        sys.exit(f"{variant}: the graph has {len(convs)} convolutions, our network {len(ours)}")
    with torch.no_grad():
        for index, (conv, (module, output, relu)) in enumerate(zip(convs, ours)):
            if problem := mismatch(conv, module, output, relu):
                sys.exit(f"{variant}: convolution {index} ({conv['name']}) does not fit: {problem}")
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(import_selfie.torch_layout(conv))))
            module.bias.copy_(torch.from_numpy(conv["bias"]))
    return net.eval()


def main() -> None:
    for variant, path in face_model.BUNDLED_FACE.items():
        import_selfie.save(imported(variant), path)
        print(f"{variant}: {path.relative_to(ROOT)} {path.stat().st_size} bytes sha256 {sha256_of(path)}")


if __name__ == "__main__":
    main()
