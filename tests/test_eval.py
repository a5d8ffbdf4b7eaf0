"""``u2live eval`` against the field's toolkit, PySODMetrics (``pysodmetrics``, a test dependency only), to 1e-6:
on the authors' reference masks (full U2-Net as ground truth, U2-Net† as predictions) and on hand-made cases."""
import json
import shutil
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

import py_sod_metrics as toolkit

KEYS = ["mae", "max_f", "mean_f", "adaptive_f", "s_measure", "max_e", "mean_e", "adaptive_e", "weighted_f"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def toolkit_scores(pairs):
    """What PySODMetrics says about [(pred uint8, gt uint8)], in our JSON's keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its Fmeasure class announces its own deprecation
        metrics = [toolkit.MAE(), toolkit.Fmeasure(), toolkit.Smeasure(), toolkit.Emeasure(),
                   toolkit.WeightedFmeasure()]
    for pred, gt in pairs:
        if pred.shape != gt.shape:
            pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_LINEAR)
        for metric in metrics:
            metric.step(pred, gt)
    r = {}
    for metric in metrics:
        r.update(metric.get_results())
    return {"mae": r["mae"], "max_f": r["fm"]["curve"].max(), "mean_f": r["fm"]["curve"].mean(),
            "adaptive_f": r["fm"]["adp"], "s_measure": r["sm"], "max_e": r["em"]["curve"].max(),
            "mean_e": r["em"]["curve"].mean(), "adaptive_e": r["em"]["adp"], "weighted_f": r["wfm"],
            "precision": r["pr"]["p"], "recall": r["pr"]["r"]}


def assert_same(ours: dict, theirs: dict):
    for key in KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    assert np.abs(np.array(ours["pr_curve"]["precision"]) - theirs["precision"]).max() <= 1e-6
    assert np.abs(np.array(ours["pr_curve"]["recall"]) - theirs["recall"]).max() <= 1e-6
    assert len(ours["pr_curve"]["precision"]) == len(ours["pr_curve"]["thresholds"]) == 256


def eval_json(tmp_path, gt_dir, pred_dir, *extra):
    out = tmp_path / "eval.json"
    result = run_cli("eval", "--gt", gt_dir, "--pred", pred_dir, "--json", out, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text()), result


def test_every_metric_equals_the_toolkits_on_the_reference_masks(reference_dir, tmp_path):
    gt_dir, pred_dir = reference_dir / "u2net_results", reference_dir / "u2netp_results"
    ours, result = eval_json(tmp_path, gt_dir, pred_dir, "--plot", tmp_path / "pr.png")
    stems = sorted(p.stem for p in gt_dir.iterdir())
    pairs = [(cv2.imread(str(pred_dir / f"{s}.png"), 0), cv2.imread(str(gt_dir / f"{s}.png"), 0)) for s in stems]
    assert ours["count"] == 18 and sorted(ours["per_image"]) == stems
    assert_same(ours, toolkit_scores(pairs))
    assert "max F-measure" in result.stdout and f"{ours['max_f']:.4f}" in result.stdout
    assert cv2.imread(str(tmp_path / "pr.png")).shape[2] == 3


def blob(h=60, w=80):
    gt = np.zeros((h, w), np.uint8)
    gt[15:45, 20:50] = 255
    return gt


def soft(gt):
    rng = np.random.default_rng(0)
    return np.clip(cv2.GaussianBlur(gt, (0, 0), 4).astype(int) + rng.integers(-20, 20, gt.shape), 0, 255)


HAND_MADE = {  # name: (prediction, ground truth)
    "empty prediction": (np.zeros((60, 80), np.uint8), blob()),
    "perfect": (blob(), blob()),
    "all white": (np.full((60, 80), 255, np.uint8), blob()),
    "soft and noisy": (soft(blob()).astype(np.uint8), blob()),
    "empty ground truth": (soft(blob()).astype(np.uint8), np.zeros((60, 80), np.uint8)),
    "full ground truth": (soft(blob()).astype(np.uint8), np.full((60, 80), 255, np.uint8)),
    "prediction at another size": (cv2.resize(soft(blob()).astype(np.uint8), (40, 30)), blob()),
}


@pytest.mark.parametrize("case", HAND_MADE)
def test_hand_made_cases_equal_the_toolkits(tmp_path, case):
    pred, gt = HAND_MADE[case]
    for folder, picture in (("gt", gt), ("pred", pred)):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.png"), picture)
    ours, result = eval_json(tmp_path, tmp_path / "gt", tmp_path / "pred")
    assert_same(ours, toolkit_scores([(pred, gt)]))
    if case == "prediction at another size":
        assert "x: prediction 40x30 resized to the ground truth's 80x60" in result.stderr


def test_the_known_answers_of_the_hand_made_cases():
    from u2live.evaluate import Evaluation

    def summary(case):
        evaluation = Evaluation()
        evaluation.add("x", *HAND_MADE[case])
        return evaluation.summary()

    perfect, empty, white = summary("perfect"), summary("empty prediction"), summary("all white")
    assert perfect["mae"] == 0 and perfect["max_f"] == pytest.approx(1) and perfect["s_measure"] == pytest.approx(1)
    assert perfect["max_e"] == pytest.approx(1, abs=1e-3) and perfect["weighted_f"] == pytest.approx(1)
    share = (blob() > 128).mean()
    everything = 1.3 * share / (0.3 * share + 1)  # F of calling every pixel salient: precision share, recall 1
    # Empty: only threshold 0 calls anything salient (everything); white: every threshold does.
    assert empty["mae"] == pytest.approx(share) and empty["weighted_f"] == 0
    assert empty["max_f"] == pytest.approx(everything) and empty["mean_f"] == pytest.approx(everything / 256)
    assert white["mae"] == pytest.approx(1 - share)  # a flat map is left as is: 1 everywhere
    assert white["max_f"] == pytest.approx(everything) and white["mean_f"] == pytest.approx(everything)


def test_missing_partners_unreadable_files_and_bad_usage(tmp_path, reference_dir):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    for stem in ("girl", "bike", "boat"):
        shutil.copy(reference_dir / "u2net_results" / f"{stem}.png", gt)
    shutil.copy(reference_dir / "u2netp_results" / "girl.png", pred)
    shutil.copy(reference_dir / "u2netp_results" / "horse.png", pred)  # no ground truth: a note
    (pred / "bike.png").write_text("not a png")
    result = run_cli("eval", "--gt", gt, "--pred", pred, "--json", tmp_path / "e.json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"no ground truth for {pred / 'horse.png'}" in result.stderr
    assert f"{pred / 'bike.png'} is not a readable image" in result.stderr
    assert f"no prediction for {gt / 'boat.png'}" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "u2live: error: 2 of 3 ground truths could not be scored"
    assert json.loads((tmp_path / "e.json").read_text())["count"] == 1
    for args, pattern in [(["--gt", gt], "exactly one of --pred"),
                          (["--gt", gt, "--pred", pred, "--images", pred], "exactly one of --pred"),
                          (["--gt", tmp_path / "none", "--pred", pred], "ground truth folder not found"),
                          (["--gt", gt, "--pred", pred, "--json", gt / "girl.png"], "is the ground truth")]:
        bad = run_cli("eval", *args)
        assert bad.returncode != 0 and "Traceback" not in bad.stderr
        assert bad.stderr.strip().splitlines()[-1].startswith("u2live: error:") and pattern in bad.stderr


def test_images_runs_our_model(reference_dir, tmp_path):
    images, gt = tmp_path / "images", tmp_path / "gt"
    images.mkdir(), gt.mkdir()
    for stem in ("girl", "im_27"):
        shutil.copy(reference_dir / "test_images" / f"{stem}.png", images)
        shutil.copy(reference_dir / "u2netp_results" / f"{stem}.png", gt)
    out = tmp_path / "e.json"
    result = run_cli("eval", "--gt", gt, "--images", images, "--backend", "cpu", "--json", out)
    assert result.returncode == 0, result.stderr
    ours = json.loads(out.read_text())
    assert ours["count"] == 2 and ours["model"].startswith("cpu u2netp fp32 320x320")
    # labels: the authors' own U2-Net† masks, binarised at 128 (so a soft edge counts as error)
    assert ours["mae"] < 0.03 and ours["max_f"] > 0.98
