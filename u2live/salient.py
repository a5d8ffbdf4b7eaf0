"""What a saliency mask says about an image beyond the mask itself: the salient object's bounding box, its
connected regions, and a "salient highlighting" picture (as in the U-2-Net demo notebook).

Masks are [H, W] uint8 (0..255) or float in [0, 1], already min-max normalised as ``u2live segment`` writes them.
Boxes are ``(x0, y0, x1, y1)`` in pixels at the mask's own size, ``x1``/``y1`` exclusive.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: regions smaller than this fraction of the image are specks, not objects
MIN_REGION_FRACTION = 0.001

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Region:
    """One connected component of the thresholded mask."""

    box: Box
    area: int  # pixels in the component
    score: float  # mean saliency (0..1) over those pixels

    def as_dict(self) -> dict:
        return {"box": list(self.box), "area": self.area, "score": round(self.score, 6)}


def saliency(mask: np.ndarray) -> np.ndarray:
    """[H, W] float32 in [0, 1] from a uint8 or float mask."""
    if mask.ndim != 2:
        raise ValueError(f"expected a [H, W] mask, got shape {mask.shape}")
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0
    return mask.astype(np.float32, copy=False)


def box_of(mask: np.ndarray, threshold: float = 0.5, min_fraction: float = MIN_REGION_FRACTION) -> Box | None:
    """The box bounding every pixel whose saliency is ``>= threshold``, specks left out (connected pieces under
    ``min_fraction`` of the image, as in :func:`regions_of`; 0 keeps every pixel); None when nothing is left.

    Why leave specks out: a few pixels hovering at the threshold far from the object (146 of 6 Mpx on the
    authors' bike.jpg) would otherwise stretch the box by hundreds of pixels.
    """
    if min_fraction > 0:
        return _union(region.box for region in regions_of(mask, threshold, min_fraction))
    ys, xs = np.nonzero(saliency(mask) >= threshold)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def regions_of(mask: np.ndarray, threshold: float = 0.5,
               min_fraction: float = MIN_REGION_FRACTION) -> list[Region]:
    """Connected components (8-connected) of the pixels ``>= threshold``, largest first, specks left out."""
    values = saliency(mask)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((values >= threshold).astype(np.uint8),
                                                               connectivity=8)
    if count <= 1:
        return []
    # Mean saliency per label in one pass, rather than a boolean mask per component.
    sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=count)
    smallest = min_fraction * values.size
    found = []
    for label in range(1, count):  # label 0 is the background
        x, y, w, h, area = (int(v) for v in stats[label])
        if area >= smallest:
            found.append(Region((x, y, x + w, y + h), area, float(sums[label] / area)))
    return sorted(found, key=lambda region: region.area, reverse=True)


def _union(boxes) -> Box | None:
    boxes = list(boxes)
    if not boxes:
        return None
    x0s, y0s, x1s, y1s = zip(*boxes)
    return min(x0s), min(y0s), max(x1s), max(y1s)


def box_record(name: str, mask: np.ndarray, threshold: float = 0.5) -> dict:
    """The ``--format box`` JSON document of one image."""
    height, width = mask.shape
    regions = regions_of(mask, threshold)
    box = _union(region.box for region in regions)
    return {"image": name, "width": width, "height": height, "threshold": threshold,
            "box": list(box) if box else None,
            "regions": [region.as_dict() for region in regions]}


OUTLINE_RGB = (255, 214, 0)  # a warm yellow that stands out on dimmed gray and on most subjects
BOX_RGB = (0, 200, 255)


def highlight(image: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """[H, W, 3] uint8: the salient object in full colour, the background dimmed and desaturated, the object's
    outline and bounding box drawn. ``image`` is [H, W, 3] uint8 RGB at the mask's size."""
    alpha = saliency(mask)[:, :, None]  # [H, W, 1]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)[:, :, None]
    background = 0.35 * gray + 0.1 * image  # mostly gray, a hint of colour, about 40% as bright
    out = (image * alpha + background * (1.0 - alpha)).clip(0, 255).astype(np.uint8)
    thickness = max(1, round(max(image.shape[:2]) / 300))
    binary = (alpha[:, :, 0] >= threshold).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, OUTLINE_RGB, thickness, lineType=cv2.LINE_AA)
    box = box_of(mask, threshold)
    if box:
        x0, y0, x1, y1 = box
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), BOX_RGB, thickness)
    return out
