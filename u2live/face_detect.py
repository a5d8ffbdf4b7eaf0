"""Faces in a picture, as MediaPipe's face detection graph finds them (mediapipe/modules/face_detection/
face_detection.pbtxt and face_detection_{short,full}_range.pbtxt, 0.10.21), around the networks of
:mod:`u2live.face_model`.

Everything here but the network is numpy and OpenCV, whatever runs the network (ONNX Runtime by default, torch, or
any callable passed as ``network=``): the picture letterboxed into the model's square (ImageToTensorCalculator:
keep_aspect_ratio, BORDER_ZERO, [-1, 1]); SSD anchors (SsdAnchorsCalculator); raw outputs decoded into boxes and scores
(TensorsToDetectionsCalculator); MediaPipe's weighted non-maximum suppression (NonMaxSuppressionCalculator); boxes
projected back through the letterbox (DetectionProjectionCalculator).

    detector = FaceDetector()                          # the full-range model in ONNX Runtime, score >= 0.6
    for x0, y0, x1, y1, score in detector.detect(rgb):  # rgb: [H, W, 3] uint8; boxes in its pixels
        ...
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .console import say
from .errors import InputError

#: per model: the square side; SsdAnchorsCalculator's strides and interpolated_scale_aspect_ratio (``aspect_ratios``
#: is [1.0] for both, and ``fixed_anchor_size: true`` makes every anchor 1x1, so only the centres matter)
ANCHORS = {"short": (128, (8, 16, 16, 16), 1.0), "full": (192, (4,), 0.0)}
#: TensorsToDetectionsCalculator's score_clipping_thresh: logits are clipped to +-100 before the sigmoid
SCORE_CLIP = 100.0
#: NonMaxSuppressionCalculator: boxes overlapping by IoU above this are merged into the best one (WEIGHTED)
NMS_IOU = 0.3
#: each published graph's min_score_thresh (face_detection_{short,full}_range.pbtxt). MediaPipe 0.10.21's Python
#: solution API passes min_detection_confidence, but these node options win: 0.1 to 0.9 give the same detections
MIN_SCORE = {"short": 0.5, "full": 0.6}

#: [N, 3, S, S] float32 in [-1, 1] -> (regressors [N, A, 16], logits [N, A, 1]), numpy in and out
Network = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def ssd_anchors(side: int, strides: tuple[int, ...], interpolated: float) -> np.ndarray:
    """[A, 2] anchor centres (x, y) relative to the square, in the models' output order: per run of equal strides,
    the cells row by row, each cell's anchors together (one per layer of the run, two with an interpolated one)."""
    centres, layer = [], 0
    while layer < len(strides):
        run = 1  # consecutive layers of one stride share a grid: their anchors interleave cell by cell
        while layer + run < len(strides) and strides[layer + run] == strides[layer]:
            run += 1
        cells = -(-side // strides[layer])  # ceil, as MediaPipe sizes the grid
        grid = (np.arange(cells, dtype=np.float32) + np.float32(0.5)) / np.float32(cells)
        y, x = np.meshgrid(grid, grid, indexing="ij")
        per_cell = run * (2 if interpolated > 0 else 1)
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], 1), per_cell, axis=0))
        layer += run
    return np.concatenate(centres).astype(np.float32)


def letterbox(rgb: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The [side, side, 3] float32 tensor MediaPipe makes of ``rgb``, and the square it covers in the picture
    ``(x0, y0, width)`` in pixels.

    The picture's centred square (its longer side) is warped onto the tensor by the perspective transform of their
    corners (pixel corners onto pixel corners: no half-pixel shift), bilinear, no antialiasing, zero outside the
    picture (so the bands are -1 after scaling), then scaled to [-1, 1] as pixel * 2 / 255 - 1."""
    height, width = rgb.shape[:2]
    square = float(max(height, width))
    x0, y0 = (width - square) / 2, (height - square) / 2
    corners = np.float32([[x0, y0 + square], [x0, y0], [x0 + square, y0], [x0 + square, y0 + square]])
    target = np.float32([[0, side], [0, 0], [side, 0], [side, side]])
    matrix = cv2.getPerspectiveTransform(corners, target)
    warped = cv2.warpPerspective(rgb, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    scale = np.float32(2.0 / 255.0)
    return warped.astype(np.float32) * scale - np.float32(1.0), np.array([x0, y0, square])


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, side: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """One picture's raw outputs -> boxes [K, 4] (x0, y0, x1, y1 relative to the square) and scores [K] of the
    anchors scoring at least ``min_score``. Boxes are not clipped (MediaPipe's are not either)."""
    scores = sigmoid(logits)
    keep = scores >= min_score
    # x_scale = y_scale = w_scale = h_scale = the side, box sizes not exponentiated, x before y (reverse_output_order)
    raw, centre = regressors[keep, :4] / side, anchors[keep]
    cx, cy = raw[:, 0] + centre[:, 0], raw[:, 1] + centre[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    sane = (w >= 0) & (h >= 0)  # MediaPipe drops boxes of negative (or NaN) size the network may predict
    return boxes[sane], scores[keep][sane]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Scores of raw logits, clipped first as MediaPipe does (exp(100) overflows float32 to inf: the score is 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1), -SCORE_CLIP, SCORE_CLIP)))


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WEIGHTED suppression: the best remaining box takes every remaining box overlapping it by more than
    ``iou`` (itself included) and becomes their score-weighted mean, keeping its own score."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    found = []
    while len(boxes):
        overlap = _iou(boxes[0], boxes)
        group = overlap > iou
        if not group.any():  # a box of zero area overlaps nothing, not even itself: MediaPipe stops there
            found.append((boxes[0], float(scores[0])))
            break
        weights = scores[group]
        found.append(((boxes[group] * weights[:, None]).sum(0) / weights.sum(), float(scores[0])))
        boxes, scores = boxes[~group], scores[~group]
    return found


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((width > 0) & (height > 0), width * height, 0.0)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def torch_network(variant: str) -> Network:
    """The bundled torch network of ``variant`` as a numpy-in, numpy-out callable (torch's own thread count)."""
    import torch

    from .face_model import load_face

    net = load_face(variant=variant)

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            regressors, logits = net(torch.from_numpy(x))
        return regressors.numpy(), logits.numpy()

    return run


#: the full-range network's ONNX graph, built ahead (``scripts/build_graphs.py``) and shipped xz-compressed with
#: the sha256 of the graph inside: exporting it on a user's first run took 15-23 s on a busy 2-core machine
SHIPPED_GRAPHS = {"full": ("face-full.onnx.xz", "07a56def4efe5857300aaf2ede51628fe25a00585756f330758d0711779cd976")}


def onnx_network(variant: str, threads: int = 1, *, log: Callable[[str], None] = say,
                 directory: Path | None = None) -> Network:
    """The bundled network of ``variant`` in ONNX Runtime on ``threads`` threads: the graph shipped with the package
    (unpacked once into the engine cache, ``directory`` or :func:`u2live.backends.engine_cache.cache_dir`), else
    exported to ONNX (opset 17) once into that cache (the export takes seconds), loaded from there afterwards."""
    import onnxruntime

    from .backends import engine_cache

    path, build, action = _graph_source(variant, directory or engine_cache.cache_dir())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = engine_cache.load_or_build(
        path, lambda p: onnxruntime.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]),
        build, log, f"{variant} face detector graph", action=action)
    return lambda x: tuple(session.run(None, {"input": x}))


def _graph_source(variant: str, directory: Path) -> tuple[Path, Callable[[Path], object], str]:
    """Where ``variant``'s graph lives in the cache, how to make it there and what that is called: unpacking the
    shipped graph (checked by its sha256) when there is one, else exporting the bundled network (torch)."""
    from .backends import engine_cache
    from .catalog import ASSETS

    shipped = SHIPPED_GRAPHS.get(variant)
    if shipped is not None and (ASSETS / "graphs" / shipped[0]).is_file():
        name, sha256 = shipped
        return directory / f"face-{variant}-shipped-{sha256[:16]}.onnx", lambda tmp: tmp.write_bytes(
            _unpacked(ASSETS / "graphs" / name, sha256)), "unpacking"
    import torch

    from .face_model import FACE_SHA256, OPSET, load_face, onnx_bytes

    fields = {"kind": "face-onnx", "model": variant, "weights": FACE_SHA256[variant], "opset": OPSET,
              "torch": torch.__version__}
    return (engine_cache.artefact_path(directory, f"face-{variant}", fields, ".onnx"),
            lambda tmp: tmp.write_bytes(onnx_bytes(load_face(variant=variant))), "exporting")


def _unpacked(archive: Path, sha256: str) -> bytes:
    import hashlib
    import lzma

    data = lzma.decompress(archive.read_bytes())
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InputError(f"the shipped graph {archive} is damaged: reinstall u2live")
    return data


RUNTIMES = ("onnxruntime", "torch")


class FaceDetector:
    """Faces in RGB pictures by MediaPipe's ``variant`` model ("full": full range, 192x192, the default; "short":
    short range, 128x128), each ``(x0, y0, x1, y1, score)`` in the picture's pixels, best first.

    ``min_score`` defaults to the model's own graph's (:data:`MIN_SCORE`). The network runs in ``runtime``
    ("onnxruntime" on ``threads`` threads, the default: its graph exported once into the engine cache, which takes
    seconds and is said through ``log`` where one is given; or "torch" on torch's threads), or is any callable of
    the :data:`Network` signature passed as ``network``."""

    def __init__(self, variant: str = "full", *, min_score: float | None = None, runtime: str = "onnxruntime",
                 threads: int = 1, network: Network | None = None, log: Callable[[str], None] | None = None):
        if variant not in ANCHORS:
            raise InputError(f"unknown face model {variant!r}: expected one of {', '.join(ANCHORS)}")
        if runtime not in RUNTIMES:
            raise InputError(f"unknown runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
        self.variant = variant
        self.min_score = MIN_SCORE[variant] if min_score is None else min_score
        self.side = ANCHORS[variant][0]
        self.anchors = ssd_anchors(*ANCHORS[variant])
        if network is None:
            network = (torch_network(variant) if runtime == "torch"
                       else onnx_network(variant, threads, log=log or (lambda _: None)))
        self.network = network

    def tensor(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's [1, 3, S, S] input for ``rgb`` and the square it covers (see :func:`letterbox`)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise InputError(f"face detection needs an [H, W, 3] uint8 RGB picture, got {rgb.dtype} {rgb.shape}")
        x, square = letterbox(rgb, self.side)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), square

    def detect(self, rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        x, square = self.tensor(rgb)
        regressors, logits = self.network(x)
        return self.detections(regressors[0], logits[0], square)

    def best_score(self, rgb: np.ndarray) -> float:
        """The highest face score of any anchor in ``rgb``, whatever ``min_score``: a graded presence cue (the
        best detection's score where there is one, since suppression keeps the best box's own score)."""
        _, logits = self.network(self.tensor(rgb)[0])
        return float(sigmoid(logits[0]).max())

    def detections(self, regressors: np.ndarray, logits: np.ndarray, square: np.ndarray) -> list[tuple]:
        """One picture's raw outputs -> its faces in pixels (the letterbox's square undone)."""
        boxes, scores = decode(regressors, logits, self.anchors, self.side, self.min_score)
        x0, y0, size = square
        return [(float(x0 + b[0] * size), float(y0 + b[1] * size), float(x0 + b[2] * size),
                 float(y0 + b[3] * size), score) for b, score in weighted_nms(boxes, scores)]
