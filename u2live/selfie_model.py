"""Google MediaPipe Selfie Segmentation, written in torch from the graph of its ``.tflite`` files.

A MobileNetV3-like encoder (a conv-hardswish stem at 1/2, eight inverted residual blocks down to 1/16, squeeze-excite
in five of them), an LR-ASPP-like head at 1/16, three decoder blocks that upsample by 2 and merge the skip of the
same scale through a channel gate, and a 2x2 stride-2 transposed convolution (MediaPipe's custom
``Convolution2DTransposeBias`` op) back to the input size; one sigmoid channel: the probability of a person.

Each variant is published for one input size: other sides (multiples of 16) run, but the masks change with the size
(larger inputs find small full-body people better and mark more non-person objects as person), so feed it that size.
MediaPipe's graph stretches the whole frame to it (keep_aspect_ratio: false) with a bilinear warp that maps pixel
corners onto pixel corners (no half-pixel shift, no antialiasing), and resizes the mask back bilinearly.

The two published variants share this architecture and differ in weights: ``general`` (256x256) and ``landscape``
(256 wide, 144 high; fewer FLOPs). Their BatchNorm was folded into the convolutions before publication, so every
convolution here has a bias and no BatchNorm follows it. Weights: ``scripts/import_selfie.py``.

Where it differs from the graph, and why it still equals it:

- TensorFlow's SAME padding puts the odd pixel of a stride-2 convolution on the bottom/right; torch pads both sides
  alike, so the stride-2 convolutions pad explicitly (exact for even sides, which multiples of 16 guarantee).
- The general model's squeeze-excite pools with AVERAGE_POOL_2D kernels as large as the feature map (the landscape
  model uses MEAN over both axes): both are a global average, written here as one, so other sizes work too.
- RESIZE_BILINEAR has half_pixel_centers=True and align_corners=False: torch's ``align_corners=False`` bilinear.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .catalog import ASSETS
from .errors import InputError, WeightsError
from .weights import load_float_state

#: the value range of the RGB input: MediaPipe's graph converts the 0..255 image with ImageToTensorCalculator's
#: ``output_tensor_float_range {min: 0.0 max: 1.0}``, i.e. pixel / 255 (mediapipe/modules/selfie_segmentation/
#: selfie_segmentation_cpu.pbtxt; the same options are compiled into the wheel's selfie_segmentation_cpu.binarypb)
INPUT_RANGE = (0.0, 1.0)
#: (height, width) each variant was trained and published at; any sides that are multiples of SIZE_MULTIPLE run
INPUT_SIZE = {"general": (256, 256), "landscape": (144, 256)}
#: four stride-2 stages: the decoder adds each upsampled map to the skip of the same scale, so sides must divide by 16
SIZE_MULTIPLE = 16
BUNDLED_SELFIE = {"general": ASSETS / "selfie.pth", "landscape": ASSETS / "selfie_landscape.pth"}
# sha256 of the bundled files (printed by scripts/import_selfie.py), checked on every load
SELFIE_SHA256 = {"general": "0f70b46b24ee5fb02f1bc7066ffe852b25b4f22fa13a33d806bde2aef98ee2d7",
                 "landscape": "da9299a71bf4f3a42b560d72da9794bc18b062090d7f237dab3f2d6f35603945"}


class SamePadConv(nn.Module):
    """A convolution padded as TensorFlow's SAME: symmetric at stride 1, the odd pixel bottom/right at stride 2."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, *, depthwise: bool = False):
        super().__init__()
        total = kernel - stride  # SAME padding for even sides: (out - 1) * stride + kernel - in
        self.pad = (total // 2, total - total // 2) * 2  # (left, right, top, bottom)
        symmetric = self.pad[0] == self.pad[1]
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding=self.pad[0] if symmetric else 0,
                              groups=in_ch if depthwise else 1)
        self.explicit = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad) if self.explicit else x)


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "hardswish": nn.Hardswish()}[name]


class Stem(nn.Module):
    """3x3 stride-2 convolution (BatchNorm folded in) -> hard-swish: RGB to 16 channels at 1/2."""

    def __init__(self, out_ch: int = 16):
        super().__init__()
        self.conv = SamePadConv(3, out_ch, 3, stride=2)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ChannelGate(nn.Module):
    """Global average -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid: one weight per channel, in (0, 1)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.expand(F.relu(self.reduce(self.pool(x)))))


class SqueezeExcite(nn.Module):
    """The input scaled by its own channel gate."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.gate = ChannelGate(channels, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class InvertedResidual(nn.Module):
    """1x1 expand -> act -> depthwise kxk (stride 1 or 2) -> act -> [squeeze-excite] -> 1x1 project (linear), plus
    the input where shapes allow. Every block expands, even at ratio 1 (the first block's 16 -> 16)."""

    def __init__(self, in_ch: int, expand_ch: int, out_ch: int, kernel: int, stride: int, act: str, se_hidden: int):
        super().__init__()
        self.expand = nn.Conv2d(in_ch, expand_ch, 1)
        self.expand_act = _activation(act)
        self.depthwise = SamePadConv(expand_ch, expand_ch, kernel, stride, depthwise=True)
        self.depthwise_act = _activation(act)
        self.se = SqueezeExcite(expand_ch, se_hidden) if se_hidden else nn.Identity()
        self.project = nn.Conv2d(expand_ch, out_ch, 1)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise_act(self.depthwise(self.expand_act(self.expand(x))))
        y = self.project(self.se(y))
        return y + x if self.residual else y


class SegmentationHead(nn.Module):
    """LR-ASPP-like: a ReLU 1x1 branch scaled per channel by a sigmoid of the globally pooled features."""

    def __init__(self, in_ch: int = 32, out_ch: int = 128):
        super().__init__()
        self.features = nn.Conv2d(in_ch, out_ch, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.scale = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.relu(self.features(x))  # before the pooled branch: the graph's order, which the importer follows
        return features * torch.sigmoid(self.scale(self.pool(x)))


class DecoderBlock(nn.Module):
    """x2 bilinear upsample -> 1x1 conv (``up``); the skip, gated by the channel gate of (skip + up), plus ``up``;
    then 1x1 conv -> ReLU, plus its own depthwise 3x3 -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.up_conv = nn.Conv2d(in_ch, out_ch, 1)
        self.gate = ChannelGate(out_ch, out_ch)
        self.conv = nn.Conv2d(out_ch, out_ch, 1)
        self.depthwise = SamePadConv(out_ch, out_ch, 3, depthwise=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up_conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        merged = skip * self.gate(skip + up) + up
        y = F.relu(self.conv(merged))
        return y + F.relu(self.depthwise(y))


# (in, expand, out, kernel, stride, activation, squeeze-excite hidden channels or 0), in graph order
_ENCODER = [
    (16, 16, 16, 3, 2, "relu", 8),  # -> 1/4
    (16, 72, 24, 3, 2, "relu", 0),  # -> 1/8
    (24, 88, 24, 3, 1, "relu", 0),
    (24, 96, 32, 5, 2, "hardswish", 24),  # -> 1/16
    (32, 128, 32, 5, 1, "hardswish", 32),
    (32, 128, 32, 5, 1, "hardswish", 32),
    (32, 96, 32, 5, 1, "hardswish", 24),
    (32, 96, 32, 5, 1, "hardswish", 24),
]


class SelfieSegmentation(nn.Module):
    """[N, 3, H, W] RGB in :data:`INPUT_RANGE` -> [N, 1, H, W] person probability; H, W multiples of 16."""

    def __init__(self):
        super().__init__()
        blocks = [InvertedResidual(*spec) for spec in _ENCODER]
        self.stem = Stem(16)
        self.down4 = blocks[0]
        self.down8 = nn.Sequential(*blocks[1:3])
        self.down16 = nn.Sequential(*blocks[3:])
        self.head = SegmentationHead(32, 128)
        self.decode8 = DecoderBlock(128, 24)
        self.decode4 = DecoderBlock(24, 16)
        self.decode2 = DecoderBlock(16, 16)
        self.segment = nn.ConvTranspose2d(16, 1, 2, stride=2)  # MediaPipe's Convolution2DTransposeBias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise InputError(f"the selfie model needs sides that are multiples of {SIZE_MULTIPLE}, "
                             f"got {int(width)}x{int(height)}")
        s2 = self.stem(x)
        s4 = self.down4(s2)
        s8 = self.down8(s4)
        y = self.head(self.down16(s8))
        y = self.decode2(self.decode4(self.decode8(y, s8), s4), s2)
        return torch.sigmoid(self.segment(y))


def load_selfie(path=None, *, variant: str = "general") -> SelfieSegmentation:
    """The eval-mode float32 network with the bundled ``variant`` weights (sha256 checked), or those at ``path``."""
    if variant not in BUNDLED_SELFIE:
        raise WeightsError(f"unknown selfie variant {variant!r}: expected one of {', '.join(BUNDLED_SELFIE)}")
    return load_float_state(SelfieSegmentation(), path, bundled=BUNDLED_SELFIE[variant],
                            sha256=SELFIE_SHA256[variant], what=f"selfie model ({variant})")
