"""Produce u2live/assets/selfie.pth and selfie_landscape.pth from Google MediaPipe's own .tflite files, and print
their sha256 (paste them into ``SELFIE_SHA256`` in u2live/selfie_model.py).

    pip install tflite                  # the flatbuffer parser: needed by this script only
    python scripts/import_selfie.py     # downloads the mediapipe wheel once into .cache/mediapipe

The wheel is ``mediapipe==0.10.21`` for CPython 3.11 on manylinux x86_64, whatever machine runs this (the .tflite
files are the same in every wheel of that release; pinning one file lets us pin its hash). Each weight of the graph
is a float16 buffer behind a DEQUANTIZE op; the convolutions (CONV_2D, DEPTHWISE_CONV_2D and MediaPipe's custom
Convolution2DTransposeBias) are taken in graph order and mapped onto our modules in the order a forward pass runs
them, checking each one's kind, stride, padding, shape and fused activation. The files keep float16: exact.
"""
from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's u2live, not another installed one

from u2live import selfie_model  # noqa: E402
from u2live.weights import sha256_of  # noqa: E402

CACHE = ROOT / ".cache" / "mediapipe"
WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
MEMBER = "mediapipe/modules/selfie_segmentation/{}.tflite"
SOURCES = {  # variant -> (file in the wheel, its sha256)
    "general": ("selfie_segmentation", "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"),
    "landscape": ("selfie_segmentation_landscape",
                  "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"),
}
TRANSPOSE_CONV = "Convolution2DTransposeBias"


def wheel() -> Path:
    """The pinned wheel, downloaded once (pip's own client, no dependencies) and checked."""
    path = CACHE / WHEEL
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                        "mediapipe==0.10.21", "-d", str(CACHE)], check=True)
    if (got := sha256_of(path)) != WHEEL_SHA256:
        sys.exit(f"{path}: sha256 {got}, expected {WHEEL_SHA256}")
    return path


def tflite_bytes(variant: str) -> bytes:
    name, expected = SOURCES[variant]
    data = zipfile.ZipFile(wheel()).read(MEMBER.format(name))
    if (got := hashlib.sha256(data).hexdigest()) != expected:
        sys.exit(f"{name}.tflite: sha256 {got}, expected {expected}")
    return data


def graph_convolutions(data: bytes) -> list[dict]:
    """Each convolution of the graph in op order: its kind, options and float32 weight and bias in TFLite layout."""
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    producer = {}  # tensor index -> the DEQUANTIZE op's float16 source tensor
    found = []
    for index in range(graph.OperatorsLength()):
        op = graph.Operators(index)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.DEQUANTIZE:
            producer[int(op.Outputs(0))] = int(op.Inputs(0))
        elif builtin in (tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D):
            found.append({"kind": "depthwise" if builtin == tflite.BuiltinOperator.DEPTHWISE_CONV_2D else "conv",
                          **_builtin_options(op, builtin), **_weights(model, graph, op, producer)})
        elif builtin == tflite.BuiltinOperator.CUSTOM and code.CustomCode().decode() == TRANSPOSE_CONV:
            padding, stride_w, stride_h = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes())
            found.append({"kind": "transpose", "stride": (stride_h, stride_w), "same": padding == 1,
                          "activation": 0, "dilation": (1, 1), **_weights(model, graph, op, producer)})
    return found


def _builtin_options(op, builtin) -> dict:
    import tflite

    options = (tflite.Conv2DOptions() if builtin == tflite.BuiltinOperator.CONV_2D
               else tflite.DepthwiseConv2DOptions())
    table = op.BuiltinOptions()
    options.Init(table.Bytes, table.Pos)
    extra = {} if builtin == tflite.BuiltinOperator.CONV_2D else {"multiplier": options.DepthMultiplier()}
    return {"stride": (options.StrideH(), options.StrideW()), "same": options.Padding() == tflite.Padding.SAME,
            "activation": options.FusedActivationFunction(),
            "dilation": (options.DilationHFactor(), options.DilationWFactor()), **extra}


def _weights(model, graph, op, producer) -> dict:
    """The op's weight and bias: float16 buffers behind DEQUANTIZE ops, returned as float32 (exact)."""
    import tflite

    arrays = []
    for tensor_index in (int(op.Inputs(1)), int(op.Inputs(2))):
        tensor = graph.Tensors(producer[tensor_index])
        if tensor.Type() != tflite.TensorType.FLOAT16:
            sys.exit(f"{tensor.Name().decode()}: type {tensor.Type()}, expected FLOAT16")
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes()
        arrays.append(np.frombuffer(raw, dtype="<f2").reshape(tensor.ShapeAsNumpy()).astype(np.float32))
    return {"weight": arrays[0], "bias": arrays[1], "name": graph.Tensors(producer[int(op.Inputs(1))]).Name()}


def our_convolutions(net: nn.Module, size: tuple[int, int]) -> list[nn.Module]:
    """Each Conv2d / ConvTranspose2d of ``net`` in the order a forward pass runs it."""
    order = []
    hooks = [m.register_forward_pre_hook(lambda mod, _: order.append(mod))
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, *size))
    finally:
        for hook in hooks:
            hook.remove()
    return order


def torch_layout(conv: dict) -> np.ndarray:
    """TFLite's OHWI (conv, transposed conv) or 1HWC (depthwise) as torch's OIHW, CIHW resp. IOHW."""
    return conv["weight"].transpose((0, 3, 1, 2) if conv["kind"] == "conv" else (3, 0, 1, 2))


def mismatch(conv: dict, module: nn.Module) -> str | None:
    """Why ``conv`` of the graph cannot be ``module``, or None."""
    kind = ("transpose" if isinstance(module, nn.ConvTranspose2d)
            else "depthwise" if module.groups > 1 and module.groups == module.in_channels else "conv")
    weight = torch_layout(conv)
    checks = {
        "kind": (conv["kind"], kind),
        "stride": (tuple(conv["stride"]), tuple(module.stride)),
        "weight shape": (tuple(weight.shape), tuple(module.weight.shape)),
        "bias shape": (tuple(conv["bias"].shape), tuple(module.bias.shape)),
        "fused activation": (conv["activation"], 0),  # every activation is an op of its own in these graphs
        "dilation": (tuple(conv["dilation"]), (1, 1)),
        "depth multiplier": (conv.get("multiplier", 1), 1),
        "SAME padding": (conv["same"] or max(weight.shape[2:]) == 1, True),  # a 1x1 kernel pads nothing either way
    }
    wrong = [f"{what} {got} (ours {want})" for what, (got, want) in checks.items() if got != want]
    return ", ".join(wrong) or None


def imported(variant: str) -> selfie_model.SelfieSegmentation:
    """Our network with every weight of MediaPipe's ``variant`` graph, mapped in execution order."""
    convs = graph_convolutions(tflite_bytes(variant))
    net = selfie_model.SelfieSegmentation()
    ours = our_convolutions(net, selfie_model.INPUT_SIZE[variant])
    if len(convs) != len(ours):
        sys.exit(f"{variant}: the graph has {len(convs)} convolutions, our network {len(ours)}")
    with torch.no_grad():
        for index, (conv, module) in enumerate(zip(convs, ours)):
            if problem := mismatch(conv, module):
                sys.exit(f"{variant}: convolution {index} ({conv['name'].decode()}) does not fit: {problem}")
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(torch_layout(conv))))
            module.bias.copy_(torch.from_numpy(conv["bias"]))
    return net.eval()


def save(net: nn.Module, path: Path) -> None:
    """A plain state dict in float16: the published weights are float16, so this is exact and half the size."""
    torch.save({k: v.half().contiguous().clone() for k, v in net.state_dict().items()}, path)


def main() -> None:
    for variant, path in selfie_model.BUNDLED_SELFIE.items():
        save(imported(variant), path)
        print(f"{variant}: {path.relative_to(ROOT)} {path.stat().st_size} bytes sha256 {sha256_of(path)}")


if __name__ == "__main__":
    main()
