"""The people benchmark (benchmarks/people.py): its metrics on hand-checkable masks, and one real row on three of
its pictures end to end (real weights, the committed pictures)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import people  # noqa: E402

NAMES = ["00-vtest-long-coat-clutter", "39-tux-fireman-a-clutter", "43-tux-fireman-a-clutter"]


def truth_square() -> np.ndarray:
    truth = np.zeros((10, 10), np.uint8)
    truth[2:6, 2:7] = 255  # 20 person pixels, 80 background
    return truth


def test_perfect_and_empty_masks_score_one_and_zero():
    truth = truth_square()
    assert people.scores(truth, truth) == {"iou": 1.0, "person_kept": 1.0, "background_kept": 0.0}
    assert people.scores(np.zeros_like(truth), truth) == {"iou": 0.0, "person_kept": 0.0, "background_kept": 0.0}
    assert people.scores(np.full_like(truth, 255), truth) == {"iou": 0.2, "person_kept": 1.0,
                                                               "background_kept": 1.0}


def test_half_the_person_and_some_background_by_hand():
    truth = truth_square()
    mask = np.zeros_like(truth)
    mask[2:4, 2:7] = 200  # 10 of the 20 person pixels (200 >= 128 counts as kept)
    mask[8, 0:8] = 128  # 8 of the 80 background pixels
    mask[9, :] = 127  # below 0.5: not kept
    assert people.scores(mask, truth) == {"iou": 10 / 28, "person_kept": 0.5, "background_kept": 0.1}


def test_summary_counts_pictures_under_90_percent_kept():
    per_picture = [{"name": "a", "iou": 1.0, "person_kept": 1.0, "background_kept": 0.0},
                   {"name": "b", "iou": 0.5, "person_kept": 0.89, "background_kept": 0.2},
                   {"name": "c", "iou": 0.9, "person_kept": 0.9, "background_kept": 0.1},
                   {"name": "d", "iou": 0.0, "person_kept": 0.0, "background_kept": 0.0}]
    s = people.summary(per_picture)
    assert s["under_90_kept"] == ["b", "d"] and s["share_under_90_kept"] == 0.5
    assert s["mean_iou"] == pytest.approx(0.6) and s["mean_person_kept"] == pytest.approx(0.6975)


class TruthModel:
    """Answers each picture with its own ground truth, or with nothing: the row runner must then score 1 and 0."""

    def __init__(self, truths: dict, empty: bool = False):
        self.truths, self.empty = truths, empty

    def mask(self, rgb):
        truth = self.truths[rgb.tobytes()[:4096]]
        return np.zeros_like(truth) if self.empty else truth


def test_row_runner_scores_the_truth_as_perfect_on_real_pictures():
    pictures = people.load_pictures(names=NAMES)
    assert [p["name"] for p in pictures] == NAMES
    truths = {p["rgb"].tobytes()[:4096]: p["truth"] for p in pictures}
    perfect = people.summary(people.run_row(TruthModel(truths), pictures))
    assert (perfect["mean_iou"], perfect["share_under_90_kept"], perfect["mean_background_kept"]) == (1.0, 0.0, 0.0)
    empty = people.summary(people.run_row(TruthModel(truths, empty=True), pictures))
    assert (empty["mean_iou"], empty["share_under_90_kept"]) == (0.0, 1.0)


def test_one_real_row_end_to_end(tmp_path):
    pictures = people.load_pictures(names=NAMES)
    rows = [people.Row.parse("u2netp-160-fp32"), people.Row.parse("no_such_model")]
    results, skipped, _ = people.evaluate(rows, pictures)
    assert list(results) == ["u2netp-160-fp32"] and "no_such_model" in skipped["no_such_model"]
    for p in results["u2netp-160-fp32"]:
        assert p["mask"].shape == next(q["truth"].shape for q in pictures if q["name"] == p["name"])
        assert 0.0 <= p["iou"] <= 1.0 and 0.0 <= p["person_kept"] <= 1.0
    people.write(results, skipped, pictures, {"machine": "test", "load_before": "0", "load_after": "0",
                                              "date": "today"}, tmp_path)
    saved = json.loads((tmp_path / "people.json").read_text())
    mean = np.mean([p["iou"] for p in saved["per_picture"]["u2netp-160-fp32"]])
    assert saved["summary"]["u2netp-160-fp32"]["mean_iou"] == pytest.approx(mean)
    assert "| u2netp-160-fp32 | 3 |" in (tmp_path / "people.md").read_text()
    assert (tmp_path / "people-worst.jpg").stat().st_size > 0


def test_row_names_parse():
    assert people.Row.parse("u2netp-320-int8") == people.Row("u2netp", 320, "int8")
    assert people.Row.parse("selfie") == people.Row("selfie") and people.Row("selfie").name == "selfie"
    assert people.Row.parse("auto-256").name == "auto-256"
