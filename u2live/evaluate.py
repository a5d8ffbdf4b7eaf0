"""Salient-object metrics, defined as the field's standard toolkit defines them (PySODMetrics 1.6, ``pysodmetrics``
on PyPI; our own implementation, tested against it to 1e-6).

Per pair: the ground truth is binarised at ``> 128``; the prediction is divided by 255 and min-max normalised (left
as is when flat). Over a set, every per-image figure and curve is averaged over the images; max and mean F- and
E-measure are then taken over the averaged 256-point curves (thresholds 255 down to 0, a pixel is foreground when its
8-bit value is ``>=`` the threshold). F-measure uses beta^2 = 0.3; the adaptive threshold is ``min(2 * mean, 1)``;
S-measure alpha = 0.5; the weighted F-measure is Margolin et al.'s (beta = 1, 7x7 Gaussian of sigma 5).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = np.spacing(1)  # MATLAB's eps, as the toolkit uses it
BETA2 = 0.3
ALPHA = 0.5
#: the thresholds of every curve, in the curves' order (the toolkit's: highest first)
THRESHOLDS = list(range(255, -1, -1))


@dataclass
class PairScores:
    """The metrics of one prediction against its ground truth."""

    mae: float
    adaptive_f: float
    f_curve: np.ndarray  # [256]
    precision: np.ndarray  # [256]
    recall: np.ndarray  # [256]
    s_measure: float
    adaptive_e: float
    e_curve: np.ndarray  # [256]
    weighted_f: float


def prepare(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [H, W] prediction and ground truth -> float64 prediction in [0, 1], bool ground truth."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    truth = gt > 128
    pred = pred / 255
    if pred.max() != pred.min():
        pred = (pred - pred.min()) / (pred.max() - pred.min())
    return pred, truth


def score_pair(pred: np.ndarray, gt: np.ndarray) -> PairScores:
    """Every metric of one uint8 prediction against its uint8 ground truth (same size)."""
    pred, gt = prepare(pred, gt)
    fg_counts, bg_counts = _counts_at_thresholds(pred, gt)
    precision, recall, f_curve = _pr_curve(fg_counts, bg_counts, gt)
    return PairScores(
        mae=float(np.mean(np.abs(pred - gt))), adaptive_f=_adaptive_f(pred, gt), f_curve=f_curve,
        precision=precision, recall=recall, s_measure=float(s_measure(pred, gt)),
        adaptive_e=_adaptive_e(pred, gt), e_curve=_e_measure(fg_counts, bg_counts, gt),
        weighted_f=float(weighted_f(pred, gt)) if gt.any() else 0.0)


def _counts_at_thresholds(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground / background ground-truth pixels predicted >= each threshold, 255 down to 0."""
    levels = (pred * 255).astype(np.uint8)
    fg = np.bincount(levels[gt], minlength=256)
    bg = np.bincount(levels[~gt], minlength=256)
    return np.cumsum(fg[::-1]), np.cumsum(bg[::-1])


def _pr_curve(true_pos: np.ndarray, false_pos: np.ndarray, gt: np.ndarray):
    predicted = true_pos + false_pos
    predicted[predicted == 0] = 1  # then true_pos is 0 too
    precision = true_pos / predicted
    recall = true_pos / max(np.count_nonzero(gt), 1)
    numerator = (1 + BETA2) * precision * recall
    f_curve = numerator / np.where(numerator == 0, 1, BETA2 * precision + recall)
    return precision, recall, f_curve


def adaptive_threshold(pred: np.ndarray) -> float:
    return min(2 * pred.mean(), 1)


def _adaptive_f(pred: np.ndarray, gt: np.ndarray) -> float:
    binary = pred >= adaptive_threshold(pred)
    hits = binary[gt].sum()
    if hits == 0:
        return 0.0
    precision, recall = hits / np.count_nonzero(binary), hits / np.count_nonzero(gt)
    return float((1 + BETA2) * precision * recall / (BETA2 * precision + recall))


# --- E-measure (Fan et al., IJCAI 2018): the enhanced alignment matrix, summed in closed form per threshold ---

def _e_measure(fg_fg, fg_bg, gt: np.ndarray):
    """E-measure of the prediction binarised at each threshold; ``fg_fg``/``fg_bg``: predicted-foreground pixels
    on ground-truth foreground/background (arrays over thresholds, or scalars)."""
    size = gt.size
    gt_fg = np.count_nonzero(gt)
    pred_fg = fg_fg + fg_bg
    pred_bg = size - pred_fg
    if gt_fg == 0:
        total = pred_bg
    elif gt_fg == size:
        total = pred_fg
    else:
        bg_fg = gt_fg - fg_fg
        parts = [fg_fg, fg_bg, bg_fg, pred_bg - bg_fg]
        pred_mean, gt_mean = pred_fg / size, gt_fg / size
        pairs = [(1 - pred_mean, 1 - gt_mean), (1 - pred_mean, -gt_mean),
                 (-pred_mean, 1 - gt_mean), (-pred_mean, -gt_mean)]
        enhanced = [((2 * (p * g) / (p ** 2 + g ** 2 + EPS)) + 1) ** 2 / 4 * part
                    for part, (p, g) in zip(parts, pairs)]
        total = np.sum(enhanced, axis=0)
    return total / (size - 1 + EPS)


def _adaptive_e(pred: np.ndarray, gt: np.ndarray) -> float:
    binary = pred >= adaptive_threshold(pred)
    return float(_e_measure(np.count_nonzero(binary & gt), np.count_nonzero(binary & ~gt), gt))


# --- S-measure (Fan et al., ICCV 2017) ---

def s_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    share = np.mean(gt)
    if share == 0:
        return 1 - np.mean(pred)
    if share == 1:
        return np.mean(pred)
    return max(0, ALPHA * _object_score(pred, gt) + (1 - ALPHA) * _region_score(pred, gt))


def _object_similarity(x: np.ndarray) -> float:
    mean = np.mean(x)
    std = np.std(x, ddof=1) if x.size > 1 else 0
    return 2 * mean / (mean ** 2 + 1 + std + EPS)


def _object_score(pred: np.ndarray, gt: np.ndarray) -> float:
    share = np.mean(gt)
    return _object_similarity(pred[gt]) * share + _object_similarity((1 - pred)[~gt]) * (1 - share)


def _region_score(pred: np.ndarray, gt: np.ndarray) -> float:
    """SSIM of the four quadrants around the ground truth's centroid, weighted by their areas."""
    h, w = gt.shape
    cy, cx = np.argwhere(gt).mean(axis=0).round()
    cy, cx = int(cy) + 1, int(cx) + 1  # MATLAB's 1:X includes X
    weights = [cx * cy / (h * w), cy * (w - cx) / (h * w), (h - cy) * cx / (h * w)]
    weights.append(1 - sum(weights))
    quadrants = [(slice(0, cy), slice(0, cx)), (slice(0, cy), slice(cx, w)),
                 (slice(cy, h), slice(0, cx)), (slice(cy, h), slice(cx, w))]
    return sum(_ssim(pred[q], gt[q]) * weight for q, weight in zip(quadrants, weights))


def _ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    n = pred.size
    x, y = np.mean(pred), np.mean(gt)
    sigma_x = np.sum((pred - x) ** 2) / (n - 1 + EPS)
    sigma_y = np.sum((gt - y) ** 2) / (n - 1 + EPS)
    sigma_xy = np.sum((pred - x) * (gt - y)) / (n - 1 + EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x ** 2 + y ** 2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1 if beta == 0 else 0


# --- Weighted F-measure (Margolin et al., CVPR 2014) ---

def weighted_f(pred: np.ndarray, gt: np.ndarray) -> float:
    from scipy.ndimage import convolve, distance_transform_edt

    distance, nearest = distance_transform_edt(~gt, return_indices=True)
    error = np.abs(pred - gt)
    # A background pixel takes the error of its nearest foreground pixel, to treat the object's edges fairly.
    spread = error.copy()
    spread[~gt] = error[nearest[0][~gt], nearest[1][~gt]]
    blurred = convolve(spread, weights=_gaussian_kernel(7, 5), mode="constant", cval=0)
    smallest = np.where(gt & (blurred < error), blurred, error)
    importance = np.where(~gt, 2 - np.exp(np.log(0.5) / 5 * distance), 1.0)
    weighted = smallest * importance
    true_pos = np.sum(gt) - np.sum(weighted[gt])
    false_pos = np.sum(weighted[~gt])
    recall = 1 - np.mean(weighted[gt])
    precision = true_pos / (true_pos + false_pos + EPS)
    return 2 * recall * precision / (recall + precision + EPS)


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """MATLAB's ``fspecial('gaussian', size, sigma)``."""
    half = (size - 1) / 2
    y, x = np.ogrid[-half:half + 1, -half:half + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel / kernel.sum()


class Evaluation:
    """Scores of a set of pairs, added one at a time; :meth:`summary` averages them as the toolkit does."""

    def __init__(self):
        self.pairs: dict[str, PairScores] = {}

    def add(self, name: str, pred: np.ndarray, gt: np.ndarray) -> PairScores:
        self.pairs[name] = scores = score_pair(pred, gt)
        return scores

    def summary(self) -> dict:
        """The ``--json`` document (without what the command adds about its inputs)."""
        if not self.pairs:
            raise ValueError("no pairs to summarise")
        mean = lambda field: np.mean([getattr(s, field) for s in self.pairs.values()], axis=0)  # noqa: E731
        f_curve, e_curve = mean("f_curve"), mean("e_curve")
        return {
            "count": len(self.pairs), "mae": float(mean("mae")),
            "max_f": float(f_curve.max()), "mean_f": float(f_curve.mean()), "adaptive_f": float(mean("adaptive_f")),
            "s_measure": float(mean("s_measure")),
            "max_e": float(e_curve.max()), "mean_e": float(e_curve.mean()), "adaptive_e": float(mean("adaptive_e")),
            "weighted_f": float(mean("weighted_f")),
            "pr_curve": {"precision": mean("precision").tolist(), "recall": mean("recall").tolist(),
                         "thresholds": THRESHOLDS},
            "f_curve": f_curve.tolist(), "e_curve": e_curve.tolist(),
            "per_image": {name: {"mae": s.mae, "max_f": float(s.f_curve.max()), "s_measure": float(s.s_measure),
                                 "weighted_f": s.weighted_f} for name, s in sorted(self.pairs.items())},
        }
