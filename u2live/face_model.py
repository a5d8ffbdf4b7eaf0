"""Google MediaPipe's BlazeFace face detectors, written in torch from the graphs of their ``.tflite`` files.

Two published models, both single-shot detectors that score every anchor of a fixed grid and regress a box and six
keypoints (eyes, nose tip, mouth, ear tragions) relative to it; :mod:`u2live.face_detect` turns their raw outputs into
boxes in the picture.

- ``short`` (face_detection_short_range.tflite, 128x128, for faces within about 2 m of the camera): a 5x5 stride-2
  stem and 16 BlazeBlocks (depthwise 3x3 -> 1x1, plus the input max-pooled and zero-padded to the new channel count
  where the block strides or widens); heads at 1/8 (2 anchors a cell) and 1/16 (6 a cell): 896 anchors.
- ``full`` (face_detection_full_range_sparse.tflite, 192x192, faces within about 5 m): a 3x3 stride-2 stem, an
  encoder of bottleneck blocks (depthwise 3x3 -> 1x1 squeeze -> depthwise 3x3 -> 1x1 expand) down to 1/32, a
  feature pyramid back up to 1/4 (1x1 lateral convolutions, bilinear x2, sum), and heads that compute at 1/8 and
  rearrange depth to space onto the 48x48 grid at 1/4: one anchor a cell, 2304 anchors.

Both output raw ``regressors`` [N, anchors, 16] (box centre x, y, width, height, then six keypoints x, y, in input
pixels relative to the anchor) and ``classificators`` [N, anchors, 1] (logits), as the originals do. Their input is
RGB in [-1, 1] (:data:`INPUT_RANGE`). BatchNorm was folded into the convolutions before publication; the full-range
file stores half of its weights sparse (TFLite DENSIFY), which ``scripts/import_face.py`` expands. Weights are
float16 as published, loaded as float32.

Where it differs from the graph, and why it still equals it:

- TensorFlow's SAME padding puts the odd pixel of the short model's stride-2 convolutions on the bottom/right; torch
  pads both sides alike, so those pad explicitly. The full model pads with explicit PAD ops of 1 on every side before
  VALID convolutions: torch's symmetric ``padding=1``.
- The short model's shortcut widens by a PAD op on the channel axis (zeros after the existing channels): ``F.pad``.
- RESIZE_BILINEAR has half_pixel_centers=True and align_corners=False: torch's ``align_corners=False`` bilinear.
- DEPTH_TO_SPACE (TFLite, NHWC) orders the input channels as (row offset, column offset, channel), channel fastest;
  torch's ``pixel_shuffle`` orders them (channel, row, column), so the rearrangement is written out.
"""
from __future__ import annotations

import io
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .catalog import ASSETS
from .errors import BackendError, WeightsError
from .weights import load_float_state

#: MediaPipe's face detection graph converts the 0..255 picture with ImageToTensorCalculator's
#: ``output_tensor_float_range {min: -1.0 max: 1.0}``, i.e. pixel * 2 / 255 - 1 (mediapipe/modules/face_detection/
#: face_detection.pbtxt)
INPUT_RANGE = (-1.0, 1.0)
#: the square side each model takes (``tensor_width``/``tensor_height`` in face_detection_{short,full}_range.pbtxt)
INPUT_SIZE = {"short": 128, "full": 192}
BUNDLED_FACE = {"short": ASSETS / "face_short.pth", "full": ASSETS / "face_full.pth"}
# sha256 of the bundled files (printed by scripts/import_face.py), checked on every load
FACE_SHA256 = {"short": "87493d874f1254b47895d34d7c41e13086682774836315efebb37d0d9fdee860",
               "full": "290c3ee1853ad0f5331bd2bd6dde089d2f2eb80520c0d15d8ac9cc2dc0988c21"}
COORDS = 16  # box (4) and six keypoints (2 each) per anchor
OPSET = 17  # as the cpu backend exports U2-Net


def relu_conv(in_ch: int, out_ch: int) -> nn.Module:
    """A 1x1 convolution followed by ReLU (the full model fuses the ReLU into its CONV_2D)."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU())


def depthwise(channels: int, stride: int = 1, padding: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, stride, padding=padding, groups=channels)


def anchor_rows(x: torch.Tensor, width: int) -> torch.Tensor:
    """[N, anchors_per_cell * width, H, W] -> [N, H * W * anchors_per_cell, width]: TFLite's NHWC RESHAPE."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, width)


class BlazeBlock(nn.Module):
    """Depthwise 3x3 (SAME) -> 1x1, plus the shortcut (2x2 max-pooled at stride 2, zero channels appended where the
    block widens), then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.stride, self.extra = stride, out_ch - in_ch
        # SAME at stride 2 on an even side pads only the bottom/right pixel; at stride 1, one pixel on every side
        self.depthwise = depthwise(in_ch, stride, padding=0 if stride == 2 else 1)
        self.project = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(F.pad(x, (0, 1, 0, 1)) if self.stride == 2 else x))
        shortcut = F.max_pool2d(x, 2) if self.stride == 2 else x
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(y + shortcut)


# (in, out, stride) of the short model's blocks, in graph order; the heads read blocks 11 (1/8) and 16 (1/16)
_SHORT_BLOCKS = [(24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2), (48, 56, 1),
                 (56, 64, 1), (64, 72, 1), (72, 80, 1), (80, 88, 1), (88, 96, 2), (96, 96, 1), (96, 96, 1),
                 (96, 96, 1), (96, 96, 1)]


class ShortRangeDetector(nn.Module):
    """[N, 3, 128, 128] RGB in [-1, 1] -> (regressors [N, 896, 16], classificators [N, 896, 1])."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 5, stride=2)  # SAME at stride 2: 1 pixel top/left, 2 bottom/right
        self.stage8 = nn.Sequential(*[BlazeBlock(*spec) for spec in _SHORT_BLOCKS[:11]])
        self.stage16 = nn.Sequential(*[BlazeBlock(*spec) for spec in _SHORT_BLOCKS[11:]])
        self.classifier8, self.classifier16 = nn.Conv2d(88, 2, 1), nn.Conv2d(96, 6, 1)
        self.regressor8, self.regressor16 = nn.Conv2d(88, 2 * COORDS, 1), nn.Conv2d(96, 6 * COORDS, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s8 = self.stage8(F.relu(self.stem(F.pad(x, (1, 2, 1, 2)))))
        s16 = self.stage16(s8)
        # the heads in graph order (both classifiers first), so the importer can map convolutions by execution order
        scores = [anchor_rows(self.classifier8(s8), 1), anchor_rows(self.classifier16(s16), 1)]
        boxes = [anchor_rows(self.regressor8(s8), COORDS), anchor_rows(self.regressor16(s16), COORDS)]
        return torch.cat(boxes, 1), torch.cat(scores, 1)


class Bottleneck(nn.Module):
    """Depthwise 3x3 -> 1x1 squeeze + ReLU -> depthwise 3x3 -> 1x1 expand; plus the input then ReLU (``residual``),
    or ReLU alone where the block strides and widens."""

    def __init__(self, channels: int, squeezed: int, out_ch: int | None = None, stride: int = 1):
        super().__init__()
        self.residual = out_ch is None
        self.depthwise1 = depthwise(channels, stride)
        self.squeeze = relu_conv(channels, squeezed)
        self.depthwise2 = depthwise(squeezed)
        # the graph fuses the ReLU into the expanding convolution where there is no sum, into the sum where there is
        self.expand = nn.Conv2d(squeezed, channels, 1) if self.residual else relu_conv(squeezed, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(self.depthwise2(self.squeeze(self.depthwise1(x))))
        return F.relu(x + y) if self.residual else y


def _stage(in_ch: int, squeezed: int, out_ch: int, repeats: int) -> nn.Sequential:
    """A stride-2 bottleneck to ``out_ch``, then ``repeats`` residual ones."""
    return nn.Sequential(Bottleneck(in_ch, squeezed, out_ch, stride=2),
                         *[Bottleneck(out_ch, out_ch // 4) for _ in range(repeats)])


class DepthToSpaceHead(nn.Module):
    """1x1 convolution -> depthwise 3x3 at stride 2 -> TFLite's DEPTH_TO_SPACE by 2: back on the input's grid with
    ``channels // 4`` values a cell."""

    def __init__(self, in_ch: int, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, channels, 1)
        self.depthwise = depthwise(channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.conv(x))
        n, c, h, w = y.shape
        # channel index (i * 2 + j) * C + k goes to row 2h + i, column 2w + j, channel k
        y = y.reshape(n, 2, 2, c // 4, h, w).permute(0, 3, 4, 1, 5, 2)
        return y.reshape(n, c // 4, 2 * h, 2 * w)


class FullRangeDetector(nn.Module):
    """[N, 3, 192, 192] RGB in [-1, 1] -> (regressors [N, 2304, 16], classificators [N, 2304, 1])."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.ReLU())
        self.stage2 = nn.Sequential(Bottleneck(32, 8), Bottleneck(32, 8))  # 1/2
        self.stage4 = _stage(32, 16, 64, 2)
        self.lateral4 = relu_conv(64, 48)
        self.stage8 = _stage(64, 32, 128, 2)
        self.lateral8 = relu_conv(128, 64)
        self.stage16 = _stage(128, 48, 192, 2)
        self.lateral16 = relu_conv(192, 96)
        self.stage32 = _stage(192, 96, 384, 3)
        self.top32 = relu_conv(384, 96)
        self.merge16 = nn.Sequential(Bottleneck(96, 48), Bottleneck(96, 48))
        self.top16 = relu_conv(96, 64)
        self.merge8 = nn.Sequential(Bottleneck(64, 32), Bottleneck(64, 32))
        self.top8 = relu_conv(64, 48)
        self.merge4 = Bottleneck(48, 24)
        self.classifier = DepthToSpaceHead(48, 4)
        self.regressor = DepthToSpaceHead(48, 4 * COORDS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # each lateral runs before the next stage: the graph's order, which the importer follows
        s4 = self.stage4(self.stage2(self.stem(x)))
        lateral4 = self.lateral4(s4)
        s8 = self.stage8(s4)
        lateral8 = self.lateral8(s8)
        s16 = self.stage16(s8)
        lateral16 = self.lateral16(s16)
        y = self.top32(self.stage32(s16))
        y = self.top16(self.merge16(lateral16 + _up(y)))
        y = self.top8(self.merge8(lateral8 + _up(y)))
        y = self.merge4(lateral4 + _up(y))
        scores = anchor_rows(self.classifier(y), 1)  # before the regressor, as in the graph
        return anchor_rows(self.regressor(y), COORDS), scores


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


NETWORKS = {"short": ShortRangeDetector, "full": FullRangeDetector}


def load_face(path=None, *, variant: str = "full") -> nn.Module:
    """The eval-mode float32 network with the bundled ``variant`` weights (sha256 checked), or those at ``path``."""
    if variant not in BUNDLED_FACE:
        raise WeightsError(f"unknown face model {variant!r}: expected one of {', '.join(BUNDLED_FACE)}")
    return load_float_state(NETWORKS[variant](), path, bundled=BUNDLED_FACE[variant], sha256=FACE_SHA256[variant],
                            what=f"{variant} face model")


def onnx_bytes(net: nn.Module, opset: int = OPSET) -> bytes:
    """ONNX of a face network for [N, 3, side, side] inputs (the batch axis dynamic); outputs ``regressors`` and
    ``classificators`` as the original's."""
    side = INPUT_SIZE["short" if isinstance(net, ShortRangeDetector) else "full"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        try:
            torch.onnx.export(net, (torch.zeros(1, 3, side, side),), buffer, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["regressors", "classificators"],
                              dynamic_axes={name: {0: "batch"} for name in ("input", "regressors", "classificators")})
        except Exception as err:
            raise BackendError(f"exporting {type(net).__name__} to ONNX failed with torch {torch.__version__}: "
                               f"{type(err).__name__}: {err}") from err
    return buffer.getvalue()
