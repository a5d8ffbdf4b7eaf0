"""Standing people too small for a face to be found: found by a detector, cut out by the person model on a crop
around each, and followed from frame to frame (``--model auto``'s third answer, :mod:`u2live.person`).

The person model (:mod:`u2live.selfie_model`) squeezes the whole picture into 256x256: a walker 100 px tall in a
320x240 frame, or anyone far from the camera, is a few dozen pixels of its input and comes out in pieces. Where no
face is found, OpenCV's HOG people detector (Dalal and Triggs' linear SVM, built into opencv-python) proposes
standing people; the person model then runs on a portrait crop around each, where the person fills the input as a
speaker does at call framing. A proposal counts only where the crop's mask looks like one standing person
(:func:`standing_person`): HOG, at the loose threshold that finds small walkers, also fires on text, trees and fur.
The crop is then re-centred on that mask and run once more (:func:`crop_around`), and the masks are pasted back.

A search costs about ten face looks (HOG's window slides over a pyramid) and misses a walker in many frames, so a
video searches once per look and :class:`WalkerTracker` follows whoever was found on every frame between: the
person model on a crop re-centred on each walker's last mask, a few ms a walker.

    walkers = find_walkers(rgb, person_model.predict)   # [(crop box, [S, S] mask), ...]; [] where nobody stands
    mask = paste(rgb.shape[:2], walkers, 256)             # [256, 256] float32, the whole picture
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

#: the detector's view: the picture at its own size, grown to the first side or shrunk to the second. HOG's window
#: is 64x128, so it finds people from 128 px tall in that view: a small picture is grown so that a walker a third
#: of its height is found; a large one is shrunk to bound the cost (about 50 ms a search either way, on 2 cores)
DETECT_SIDES = (384, 768)
#: HOG's SVM margin: below OpenCV's default 0 to find small, partly hidden walkers; the crop check sorts them out
HIT_THRESHOLD = -0.5
#: (pixels between windows, scale between pyramid levels): a fine search where the view is DETECT_SIDES[0] or
#: smaller (its walkers are near the window's size: a coarser search misses a third of them), a coarse one on a larger
#: view, which costs about as much (a quarter of the windows a pixel) and finds walkers 128 px tall and more
FINE, COARSE = (4, 1.05), (8, 1.1)
#: the best-scoring proposals that get the person model on their crop (each costs one run, a few ms)
PROPOSALS = 3
#: crops are portrait, width / height: a standing person's box widened so their arms and stride fit
CROP_ASPECT = 0.75
#: a crop's mask (at 0.5) shows one standing person where it covers this share of the crop, its bounding box spans
#: at least MIN_HEIGHT of the crop's height and is at least MIN_TALL times as tall as wide (in the picture's
#: pixels), the mask's mean inside is at least MIN_CONFIDENCE (the model is sure, not hedging on a texture), and
#: at most MAX_EDGE of the crop's left, right or top edge is kept (more: a larger person goes on past the crop,
#: and HOG found a part of them, a fireman's air tank, which alone would replace the whole person's mask).
#: SHARE's 0.25 keeps the baboon's nose (0.28 of its crop) out
SHARE = (0.05, 0.25)
MIN_HEIGHT = 0.5
MIN_TALL = 1.5
MIN_CONFIDENCE = 0.9
MAX_EDGE = 0.1
#: the second crop, around the first crop's mask: this share of its height and width added on each side
MARGIN = 0.1

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the picture's pixels (a crop may reach past its edges)
Predict = Callable[[list[np.ndarray]], np.ndarray]  # [n] RGB pictures -> [n, S, S] masks in [0, 1]


def hog_people(rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """HOG's people in ``rgb`` ([H, W, 3] uint8), each (x0, y0, x1, y1, score) in its pixels, best first."""
    height, width = rgb.shape[:2]
    scale = min(max(max(height, width), DETECT_SIDES[0]), DETECT_SIDES[1]) / max(height, width)
    view = rgb if scale == 1 else cv2.resize(rgb, (max(round(width * scale), 1), max(round(height * scale), 1)),
                                             interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    hog = _hog()
    if view.shape[0] < hog.winSize[1] or view.shape[1] < hog.winSize[0]:
        return []  # no person fits (and OpenCV 4.14 crashes on a picture smaller than the window)
    stride, step = FINE if max(view.shape[:2]) <= DETECT_SIDES[0] else COARSE
    rects, weights = hog.detectMultiScale(view, hitThreshold=HIT_THRESHOLD, winStride=(stride, stride),
                                          padding=(8, 8), scale=step)
    found = [(x / scale, y / scale, (x + w) / scale, (y + h) / scale, float(score))
             for (x, y, w, h), score in zip(rects, np.ravel(weights))]
    return sorted(found, key=lambda box: -box[4])


_HOG = []


def detector_available() -> bool:
    """Whether this OpenCV has HOG's people detector (OpenCV 5 moved it out of the main package)."""
    return hasattr(cv2, "HOGDescriptor")


def _hog() -> cv2.HOGDescriptor:
    if not _HOG:  # made once: the SVM's 3,781 weights are copied in each time
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _HOG.append(hog)
    return _HOG[0]


def portrait(x0: float, y0: float, x1: float, y1: float, margin: float = 0.0) -> Box:
    """The CROP_ASPECT box around a box, ``margin`` of its size added on each side, widened (or heightened) to fit."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height, width = (y1 - y0) * (1 + 2 * margin), (x1 - x0) * (1 + 2 * margin)
    width, height = max(width, height * CROP_ASPECT), max(height, width / CROP_ASPECT)
    return round(cx - width / 2), round(cy - height / 2), round(cx + width / 2), round(cy + height / 2)


def cut(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The crop ``box`` of ``rgb``, its edge pixels repeated where the box reaches past the picture."""
    x0, y0, x1, y1 = box
    height, width = rgb.shape[:2]
    inside = rgb[max(y0, 0):min(y1, height), max(x0, 0):min(x1, width)]
    pad = ((max(-y0, 0), max(y1 - height, 0)), (max(-x0, 0), max(x1 - width, 0)), (0, 0))
    return np.pad(inside, pad, mode="edge")


def standing_person(mask: np.ndarray, box: Box) -> bool:
    """Whether the person model's ``mask`` ([S, S] of the crop ``box``) shows one standing person (see SHARE)."""
    kept = mask > 0.5
    if not kept.any():
        return False
    ys, xs = np.nonzero(kept)
    size_y, size_x = mask.shape
    tall = (ys.max() - ys.min() + 1) / size_y
    wide = (xs.max() - xs.min() + 1) / size_x
    aspect = (box[2] - box[0]) / (box[3] - box[1])
    edge = max(kept[:, 0].mean(), kept[:, -1].mean(), kept[0].mean())
    return (SHARE[0] <= kept.mean() <= SHARE[1] and tall >= MIN_HEIGHT and tall / (wide * aspect) >= MIN_TALL
            and float(mask[kept].mean()) >= MIN_CONFIDENCE and edge <= MAX_EDGE)


def crop_around(mask: np.ndarray, box: Box) -> Box:
    """The portrait crop, MARGIN around it, of what ``mask`` ([S, S] of the crop ``box``) keeps, in picture pixels."""
    ys, xs = np.nonzero(mask > 0.5)
    size_y, size_x = mask.shape
    sx, sy = (box[2] - box[0]) / size_x, (box[3] - box[1]) / size_y
    return portrait(box[0] + xs.min() * sx, box[1] + ys.min() * sy, box[0] + (xs.max() + 1) * sx,
                    box[1] + (ys.max() + 1) * sy, MARGIN)


def find_walkers(rgb: np.ndarray, predict: Predict, proposals: int = PROPOSALS) -> list[tuple[Box, np.ndarray]]:
    """The standing people in ``rgb``: (crop box, the person model's [S, S] mask of that crop) for each proposal of
    HOG's whose crop passes :func:`standing_person`, re-centred on its mask and run again (the second mask kept
    where it still shows a standing person). ``predict`` is the person model's."""
    boxes = [portrait(*found[:4]) for found in hog_people(rgb)[:proposals]]
    if not boxes:
        return []
    firsts = [(box, mask) for box, mask in zip(boxes, predict([cut(rgb, box) for box in boxes]))
              if standing_person(mask, box)]
    if not firsts:
        return []
    again = [crop_around(mask, box) for box, mask in firsts]
    seconds = predict([cut(rgb, box) for box in again])
    return [(box, mask) if standing_person(mask, box) else first
            for first, box, mask in zip(firsts, again, seconds)]


def paste(shape: tuple[int, int], walkers: list[tuple[Box, np.ndarray]], side: int | None = None) -> np.ndarray:
    """The walkers' crop masks pasted (their maximum where crops overlap) into a [H, W] float32 picture of
    ``shape``, zero elsewhere; shrunk to [side, side] when ``side`` is given (a network's mask of the picture)."""
    height, width = shape
    out = np.zeros((height, width), np.float32)
    for (x0, y0, x1, y1), mask in walkers:
        big = cv2.resize(mask.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = min(y1, height), min(x1, width)
        if bottom <= top or right <= left:
            continue
        region = big[top - y0:bottom - y0, left - x0:right - x0]
        np.maximum(out[top:bottom, left:right], region, out=out[top:bottom, left:right])
    if side is None:
        return out
    return cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA)


#: walkers followed at once: each costs one run of the person model a frame
MAX_WALKERS = 4
#: a followed walker whose crop stops showing a standing person (another walker in front, a pole) keeps their last
#: mask for this many frames, then is dropped until a search finds them again
HOLD_FRAMES = 5
#: two walkers are one where their crops overlap by this IoU (two proposals for one person, two crops that followed one)
SAME_WALKER_IOU = 0.3


@dataclass(frozen=True)
class Walker:
    box: Box  # the crop this frame's mask is of
    mask: np.ndarray  # the person model's [S, S] mask of that crop
    missed: int = 0  # frames in a row whose crop did not show a standing person (the mask is then the last one)


class WalkerTracker:
    """The walkers of one video: :meth:`search` adds those a search finds, :meth:`follow` moves each to the next
    frame, :meth:`mask` pastes them into a mask of the whole picture. ``predict`` is the person model's."""

    def __init__(self, predict: Predict):
        self.predict = predict
        self.walkers: list[Walker] = []

    def follow(self, rgb: np.ndarray) -> None:
        """Each walker on ``rgb`` (the next frame): the person model on a crop re-centred on their last mask."""
        if not self.walkers:
            return
        boxes = [crop_around(w.mask, w.box) if w.missed == 0 else w.box for w in self.walkers]
        followed = []
        for walker, box, mask in zip(self.walkers, boxes, self.predict([cut(rgb, box) for box in boxes])):
            if standing_person(mask, box):
                followed.append(Walker(box, mask))
            elif walker.missed < HOLD_FRAMES:
                followed.append(Walker(walker.box, walker.mask, walker.missed + 1))
        self.walkers = distinct(followed)

    def search(self, rgb: np.ndarray) -> None:
        """Adds the walkers a search of ``rgb`` finds that are not followed yet (this frame's, after :meth:`follow`)."""
        found = [Walker(box, mask) for box, mask in find_walkers(rgb, self.predict)]
        self.walkers = distinct(self.walkers + found)[:MAX_WALKERS]

    def clear(self) -> None:
        self.walkers = []

    def mask(self, shape: tuple[int, int], side: int) -> np.ndarray:
        """The walkers' masks pasted into a [side, side] mask of a picture of ``shape`` (height, width)."""
        return paste(shape, [(w.box, w.mask) for w in self.walkers], side)


def distinct(walkers: list[Walker]) -> list[Walker]:
    """``walkers`` less each one whose crop overlaps an earlier one's (SAME_WALKER_IOU): two of HOG's proposals for
    one person, or two crops that followed the same person, are one walker."""
    kept = []
    for walker in walkers:
        if all(box_iou(walker.box, other.box) < SAME_WALKER_IOU for other in kept):
            kept.append(walker)
    return kept


def box_iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
