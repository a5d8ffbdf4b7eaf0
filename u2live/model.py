"""U2-Net and U2-Net† (Qin et al., Pattern Recognition 2020), written from the paper's diagram.

Module and parameter names follow the authors' ``model/u2net.py`` so their official ``u2net.pth`` /
``u2netp.pth`` checkpoints load with ``strict=True``. Each Residual U-block (RSU) is an encoder/decoder of
conv-BN-ReLU units whose output is added to its input projection; the outer network is a U of RSUs whose six
side outputs are fused by a 1x1 convolution into ``d0``.

``pool_ceil`` chooses the authors' ``MaxPool2d(ceil_mode=True)`` (the default) or floor pooling. TensorRT does
not convert ceil-mode pooling; on inputs whose sides are multiples of 32 the two are bit-identical, so the
TensorRT path builds the model with ``pool_ceil=False`` and pads its input to a multiple of 32.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .catalog import MODEL_NAMES  # noqa: F401  (defined without torch, for the CLI)


def _upsample_like(src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.interpolate(src, size=target.shape[2:], mode="bilinear", align_corners=False)


class REBNCONV(nn.Module):
    """3x3 dilated conv -> BatchNorm -> ReLU: the unit every RSU is made of."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, dirate: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dirate, dilation=dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


class RSU(nn.Module):
    """RSU-L: an L-level U-Net inside one block (L = ``height``; RSU-7 .. RSU-4).

    Encoder level i (1..L-1) is a REBNCONV followed by 2x2 pooling except the last; the bottom level is a
    dilation-2 REBNCONV; the decoder concatenates each encoder feature with the upsampled deeper one.
    """

    def __init__(self, height: int, in_ch: int, mid_ch: int, out_ch: int, *, pool_ceil: bool = True):
        super().__init__()
        self.height = height
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        for level in range(1, height - 1):
            setattr(self, f"pool{level}", nn.MaxPool2d(2, stride=2, ceil_mode=pool_ceil))
            setattr(self, f"rebnconv{level + 1}", REBNCONV(mid_ch, mid_ch, dirate=1))
        setattr(self, f"rebnconv{height}", REBNCONV(mid_ch, mid_ch, dirate=2))
        for level in range(height - 1, 1, -1):
            setattr(self, f"rebnconv{level}d", REBNCONV(mid_ch * 2, mid_ch, dirate=1))
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        encoded = [self.rebnconv1(hxin)]
        for level in range(2, self.height):
            pooled = getattr(self, f"pool{level - 1}")(encoded[-1])
            encoded.append(getattr(self, f"rebnconv{level}")(pooled))
        hx = getattr(self, f"rebnconv{self.height}")(encoded[-1])
        for level in range(self.height - 1, 0, -1):
            skip = encoded[level - 1]
            if level < self.height - 1:
                hx = _upsample_like(hx, skip)
            hx = getattr(self, f"rebnconv{level}d")(torch.cat((hx, skip), 1))
        return hx + hxin


class RSU4F(nn.Module):
    """RSU-4F: RSU-4 with dilations 1, 2, 4, 8 instead of pooling, for the low-resolution stages."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int):
        super().__init__()
        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        self.rebnconv1 = REBNCONV(out_ch, mid_ch, dirate=1)
        self.rebnconv2 = REBNCONV(mid_ch, mid_ch, dirate=2)
        self.rebnconv3 = REBNCONV(mid_ch, mid_ch, dirate=4)
        self.rebnconv4 = REBNCONV(mid_ch, mid_ch, dirate=8)
        self.rebnconv3d = REBNCONV(mid_ch * 2, mid_ch, dirate=4)
        self.rebnconv2d = REBNCONV(mid_ch * 2, mid_ch, dirate=2)
        self.rebnconv1d = REBNCONV(mid_ch * 2, out_ch, dirate=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat((hx4, hx3), 1))
        hx2d = self.rebnconv2d(torch.cat((hx3d, hx2), 1))
        return self.rebnconv1d(torch.cat((hx2d, hx1), 1)) + hxin


# (block height or "F", in, mid, out) per stage; the side convolutions read the decoder outputs.
_CONFIGS = {
    "u2netp": {
        "encoder": [(7, 3, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64), ("F", 64, 16, 64),
                    ("F", 64, 16, 64)],
        "decoder": [("F", 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64), (6, 128, 16, 64), (7, 128, 16, 64)],
        "side": [64, 64, 64, 64, 64, 64],
    },
    "u2net": {
        "encoder": [(7, 3, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512),
                    ("F", 512, 256, 512), ("F", 512, 256, 512)],
        "decoder": [("F", 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64),
                    (7, 128, 16, 64)],
        "side": [64, 64, 128, 256, 512, 512],
    },
}


def _block(spec, pool_ceil: bool) -> nn.Module:
    height, in_ch, mid_ch, out_ch = spec
    if height == "F":
        return RSU4F(in_ch, mid_ch, out_ch)
    return RSU(height, in_ch, mid_ch, out_ch, pool_ceil=pool_ceil)


class U2Net(nn.Module):
    """The outer U: six encoder stages (stage1..stage6), five decoder stages (stage5d..stage1d), six side
    outputs upsampled to the input size and fused by ``outconv``. ``forward`` returns the seven sigmoid maps
    ``(d0, d1, ..., d6)`` as the authors' model does; ``d0`` is the fused mask."""

    def __init__(self, name: str = "u2netp", *, pool_ceil: bool = True):
        super().__init__()
        if name not in _CONFIGS:
            raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}")
        self.name = name
        config = _CONFIGS[name]
        for i, spec in enumerate(config["encoder"], start=1):
            setattr(self, f"stage{i}", _block(spec, pool_ceil))
            if i < 6:
                setattr(self, f"pool{i}{i + 1}", nn.MaxPool2d(2, stride=2, ceil_mode=pool_ceil))
        for i, spec in zip(range(5, 0, -1), config["decoder"]):
            setattr(self, f"stage{i}d", _block(spec, pool_ceil))
        for i, channels in enumerate(config["side"], start=1):
            setattr(self, f"side{i}", nn.Conv2d(channels, 1, 3, padding=1))
        self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoded = []  # hx1 .. hx6
        hx = x
        for i in range(1, 7):
            if i > 1:
                hx = getattr(self, f"pool{i - 1}{i}")(hx)
            hx = getattr(self, f"stage{i}")(hx)
            encoded.append(hx)
        decoded = {6: encoded[5]}  # hx6, hx5d, .., hx1d
        for i in range(5, 0, -1):
            up = _upsample_like(decoded[i + 1], encoded[i - 1])
            decoded[i] = getattr(self, f"stage{i}d")(torch.cat((up, encoded[i - 1]), 1))
        d1 = self.side1(decoded[1])
        sides = [d1] + [_upsample_like(getattr(self, f"side{i}")(decoded[i]), d1) for i in range(2, 7)]
        d0 = self.outconv(torch.cat(sides, 1))
        return tuple(torch.sigmoid(d) for d in [d0, *sides])


class FusedMask(nn.Module):
    """Inference wrapper: returns only the fused mask ``d0`` ([N, 1, H, W], sigmoid)."""

    def __init__(self, net: U2Net):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def build(name: str = "u2netp", *, pool_ceil: bool = True) -> U2Net:
    """A randomly initialised network; load weights with :mod:`u2live.weights`."""
    return U2Net(name, pool_ceil=pool_ceil)


def fold_batchnorm(net: U2Net) -> U2Net:
    """A copy of ``net`` with every BatchNorm folded into the preceding convolution (inference only).

    The BN modules become ``nn.Identity``: the conv gains the bias ``beta - gamma * mean / std`` and its
    weight is scaled by ``gamma / std``.
    """
    folded = copy.deepcopy(net).eval()
    for unit in folded.modules():
        if isinstance(unit, REBNCONV) and isinstance(unit.bn_s1, nn.BatchNorm2d):
            unit.conv_s1 = _fold(unit.conv_s1, unit.bn_s1)
            unit.bn_s1 = nn.Identity()
    return folded


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # [C_out]
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding,
                      dilation=conv.dilation, bias=True)
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


def is_folded(net: U2Net) -> bool:
    return not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def unfold_batchnorm(net: U2Net) -> U2Net:
    """A copy of a folded ``net`` with identity BatchNorms restored (mean 0, var 1-eps, gamma 1, beta 0),
    giving the authors' unfolded layout and key names with the same outputs."""
    unfolded = copy.deepcopy(net)
    with torch.no_grad():
        for unit in unfolded.modules():
            if isinstance(unit, REBNCONV) and isinstance(unit.bn_s1, nn.Identity):
                bn = nn.BatchNorm2d(unit.conv_s1.out_channels)
                bn.running_var.fill_(1.0 - bn.eps)  # so that sqrt(var + eps) == 1 exactly
                unit.bn_s1 = bn
    return unfolded
