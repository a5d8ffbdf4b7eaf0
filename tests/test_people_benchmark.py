"""The people benchmark (benchmarks/people.py): its metrics on hand-checkable masks, and one real row on three of
its pictures end to end (real weights, the committed pictures)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import people  # noqa: E402
import people_truth  # noqa: E402

NAMES = ["00-vtest-long-coat-clutter", "39-tux-fireman-a-clutter", "43-tux-fireman-a-clutter", "59-carphone-real"]


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


def test_unsure_truth_counts_for_neither_person_nor_background():
    truth = truth_square()
    truth[8:, :] = people_truth.UNSURE  # 20 pixels no one can tell: the background is now 60 pixels
    mask = np.zeros_like(truth)
    mask[2:6, 2:7] = 255
    assert people.scores(mask, truth) == {"iou": 1.0, "person_kept": 1.0, "background_kept": 0.0}
    mask[8:, :] = 255  # keeping what is unsure changes nothing
    assert people.scores(mask, truth) == {"iou": 1.0, "person_kept": 1.0, "background_kept": 0.0}
    mask[0, :] = 255  # 10 of the 60 sure background pixels
    assert people.scores(mask, truth) == {"iou": 20 / 30, "person_kept": 1.0, "background_kept": 10 / 60}


def test_touching_union_adds_only_salient_regions_that_overlap_the_person():
    person = np.zeros((10, 12), np.uint8)
    person[2:6, 2:6] = 255
    salient = np.zeros_like(person)
    salient[4:8, 4:8] = 200  # overlaps the person: a held object
    salient[0:3, 9:12] = 255  # apart from the person: a lamp
    union = people.touching_union(person, salient)
    assert np.count_nonzero(union >= 128) == 16 + 16 - 4
    assert not union[0:3, 9:12].any() and union[7, 7] == 200


def test_call_truth_is_what_the_committed_annotations_make():
    """The hand-made truth is data, not a picture edited by hand: the strokes make the committed mask again."""
    records = {r["name"]: r for r in json.loads((people.DATA / "manifest.json").read_text())["pictures"]}
    for photo in ("carphone", "hopper", "astronaut"):
        record = next(r for r in records.values() if r.get("photo") == photo and r["case"] == "real")
        committed = cv2.imread(str(people.DATA / record["mask"]), cv2.IMREAD_GRAYSCALE)
        made = people_truth.truth(*people_truth.load(photo))
        # GrabCut's k-means sums in SIMD kernels that differ between instruction sets: a near-tie may fall the
        # other way on another CPU, so a few pixels may differ, not a region
        assert made.shape == committed.shape and np.mean(made != committed) <= 0.001
        assert 0.15 < np.count_nonzero(made == 255) / made.size < 0.85
    assert made[450, 400] == people_truth.UNSURE and made[300, 200] == 255  # the helmet she holds; her suit


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
    text = (tmp_path / "people.md").read_text()
    assert "| u2netp-160-fp32 | 4 |" in text and "| u2netp-160-fp32 | 1 |" in text  # all, then one call picture
    assert "Call framing" in text and "Full body" in text
    assert (tmp_path / "people-worst.jpg").stat().st_size > 0
    assert (tmp_path / "people-worst-call.jpg").stat().st_size > 0


def test_row_names_parse():
    assert people.Row.parse("u2netp-320-int8") == people.Row("u2netp", 320, "int8")
    assert people.Row.parse("selfie") == people.Row("selfie") and people.Row("selfie").name == "selfie"
    assert people.Row.parse("auto-256").name == "auto-256"
