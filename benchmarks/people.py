"""People kept whole (issue 23): each model row on pictures of people with ground truth, and real footage by eye.

Pictures: ``benchmarks/people/`` (made by ``people_data.py``; sources and licences in its SOURCES.md). Each row
loads a model the way a user does (``u2live.api.Model(backend="cpu", model=..., size=..., precision=...)``) and
takes its ``mask`` (the product's own post-processing, at the picture's size). Per picture, with the mask and the
truth cut at 0.5:

- IoU of the person;
- person kept: the share of the true person's pixels the mask keeps (recall);
- background kept: the share of the true background the mask keeps (what shows through of the old background).

Per row: mean IoU, mean person kept, mean background kept, and the share of pictures where under 90% of the person
is kept. A row whose model the catalog does not know, or that cannot load here, is skipped with its reason printed.

Outputs: ``benchmarks/results/people.md`` and ``people.json``; ``people-worst.jpg``, the worst pictures of each row
(mask over the picture: kept in colour, dropped dimmed, the truth's outline in yellow).
``--sheet`` renders chosen frames of real footage with each row's mask instead (``people-footage.jpg``).

Usage: ``python benchmarks/people.py [--rows u2netp-320-int8,selfie,...] [--sheet]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / "benchmarks" / "people"
RESULTS = REPO / "benchmarks" / "results"
MEDIA = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
KEPT_WHOLE = 0.9  # a picture counts as a failure where under 90% of the person is kept
# real footage judged by eye: (clip, frames)
FOOTAGE = [("Megamind.avi", [30, 135, 230, 100, 120, 140, 225, 230, 236]), ("vtest.avi", [100, 400, 700])]


@dataclass(frozen=True)
class Row:
    """One model configuration: a catalog model name, with its size and precision where it has them."""
    model: str
    size: int | None = None
    precision: str | None = None

    @property
    def name(self) -> str:
        return "-".join(str(p) for p in (self.model, self.size, self.precision) if p is not None)

    @classmethod
    def parse(cls, text: str) -> Row:
        """``u2netp-320-int8``, ``selfie``, ``auto-256``: the model, then an optional size and precision."""
        parts = text.split("-")
        size = next((int(p) for p in parts[1:] if p.isdigit()), None)
        precision = next((p for p in parts[1:] if p in ("fp32", "int8", "fp16")), None)
        return cls(parts[0], size, precision)


U2NETP_ROWS = [Row("u2netp", s, p) for s in (160, 256, 320) for p in ("fp32", "int8")]
# rows the lead adds as their models land; skipped with a reason until the catalog knows them
# the selfie model as `Model(model="selfie")` runs it (at the default size, 320) and at the size it was trained at and
# that auto runs it at (256)
LATER_ROWS = [Row("selfie"), Row("selfie", 256), Row("auto")]
# a benchmark-only row (not a model): auto's mask extended by the salient regions of this row that overlap it
UNION_SALIENT = "u2netp-320-fp32"  # what auto runs where no person is, for still images on the CPU
UNION = "auto+touching-salient"
# a benchmark-only row: auto without its search for standing people (u2live/walkers.py): U2-Net† wherever no face is
FACES_ONLY = "auto-faces-only"
FRAMINGS = {"call": "Call framing (head and shoulders, waist up: real photos and video frames, as they are and "
                    "composited)",
            "upper-body": "Upper body (the Tux Paint firemen cropped to head and chest)",
            "full-body": "Full body (vtest walkers 83-147 px tall, the firemen)"}


def load_model(row: Row):
    """(model, None) or (None, why it cannot run here): a name the catalog lacks, missing weights, no backend."""
    from u2live.api import Model
    from u2live.catalog import MODEL_NAMES
    from u2live.errors import U2LiveError

    options = {k: v for k, v in (("size", row.size), ("precision", row.precision)) if v is not None}
    try:
        return Model(backend="cpu", model=row.model, log=lambda line: None, **options), None
    except (U2LiveError, KeyError, ValueError, TypeError) as err:
        known = "" if row.model in MODEL_NAMES else f" (not in u2live's catalog: {', '.join(MODEL_NAMES)})"
        return None, f"{type(err).__name__}: {err}{known}"


def scores(mask: np.ndarray, truth: np.ndarray) -> dict:
    """IoU, person kept and background kept of a [H, W] uint8 mask against a [H, W] uint8 truth, both cut at 0.5
    (128 of 255). Truth values from 32 to 127 are unsure (``people_truth.UNSURE``: what the photo cannot tell) and
    count for neither. An empty truth has IoU 1 only where the mask is empty too."""
    person, background = truth >= 128, truth < 32
    pred = (mask >= 128) & (person | background)
    union = np.count_nonzero(pred | person)
    inter = np.count_nonzero(pred & person)
    return {"iou": inter / union if union else 1.0,
            "person_kept": inter / max(np.count_nonzero(person), 1),
            "background_kept": np.count_nonzero(pred & background) / max(np.count_nonzero(background), 1)}


def load_pictures(data: Path = DATA, names: list[str] | None = None) -> list[dict]:
    """The manifest's records, each with its ``rgb`` and ``truth`` arrays loaded."""
    records = json.loads((data / "manifest.json").read_text())["pictures"]
    out = []
    for record in records:
        if names is not None and record["name"] not in names:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(data / record["image"])), cv2.COLOR_BGR2RGB)
        out.append({**record, "rgb": rgb, "truth": cv2.imread(str(data / record["mask"]), cv2.IMREAD_GRAYSCALE)})
    return out


def run_row(model, pictures: list[dict]) -> list[dict]:
    """Per picture: its name, case, framing, scores, and the mask (kept in memory for the contact sheet)."""
    out = []
    for picture in pictures:
        mask = model.mask(picture["rgb"])
        out.append({"name": picture["name"], "case": picture["case"], "framing": picture["framing"],
                    **scores(mask, picture["truth"]), "mask": mask})
    return out


def summary(per_picture: list[dict]) -> dict:
    """A row's means, and the share of pictures where under KEPT_WHOLE of the person is kept."""
    n = len(per_picture)
    lost = [p["name"] for p in per_picture if p["person_kept"] < KEPT_WHOLE]
    return {"pictures": n, "mean_iou": sum(p["iou"] for p in per_picture) / n,
            "mean_person_kept": sum(p["person_kept"] for p in per_picture) / n,
            "mean_background_kept": sum(p["background_kept"] for p in per_picture) / n,
            "share_under_90_kept": len(lost) / n, "under_90_kept": lost}


def overlay(rgb: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
    """[H, W, 3] uint8 RGB: kept pixels in colour, dropped ones dimmed and tinted blue; the truth's outline in
    yellow when given."""
    kept = (mask >= 128)[..., None]
    dropped = (rgb * 0.25 + np.array([0, 0, 110])).astype(np.uint8)
    out = np.where(kept, rgb, dropped).astype(np.uint8)
    if truth is not None:
        contours, _ = cv2.findContours((truth >= 128).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 230, 0), 1)
    return out


def tile(image: np.ndarray, height: int, label: str) -> np.ndarray:
    t = cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height), interpolation=cv2.INTER_AREA)
    for i, line in enumerate(label.split("|")):  # "|" starts a new line
        for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(t, line, (3, 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness)
    return t


def sheet(rows: list[list[np.ndarray]], labels: list[str], width: int) -> np.ndarray:
    """Rows of tiles, each row headed by its label, padded to ``width``; [H, W, 3] uint8 RGB."""
    bands = []
    for tiles, label in zip(rows, labels):
        band = np.hstack(tiles)[:, :width]
        band = np.pad(band, ((18, 2), (0, width - band.shape[1]), (0, 0)), constant_values=255)
        cv2.putText(band, label, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        bands.append(band)
    return np.vstack(bands)


def worst_sheet(pictures: list[dict], results: dict, per_row: int = 5, height: int = 150,
                framing: str | None = None) -> np.ndarray:
    """Each row's ``per_row`` worst pictures (least of the person kept, then lowest IoU), mask over picture; only
    those of one ``framing`` when given."""
    by_name = {p["name"]: p for p in pictures}
    rows, labels = [], []
    for name, per_picture in results.items():
        chosen = [p for p in per_picture if framing in (None, p["framing"])]
        worst = sorted(chosen, key=lambda p: (p["person_kept"], p["iou"]))[:per_row]
        rows.append([tile(overlay(by_name[p["name"]]["rgb"], p["mask"], by_name[p["name"]]["truth"]), height,
                          f"{p['name'][3:26]}|kept {p['person_kept']:.2f} IoU {p['iou']:.2f}") for p in worst])
        labels.append(name)
    return sheet(rows, labels, per_row * round(height * 4 / 3))


def footage_frames(media: Path = MEDIA) -> list[tuple[str, np.ndarray]]:
    """(label, rgb) of the chosen frames of the real clips, decoded in order."""
    out = []
    for clip, wanted in FOOTAGE:
        cap, index, frames = cv2.VideoCapture(str(media / clip)), 0, {}
        while len(frames) < len(set(wanted)):
            ok, frame = cap.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        out += [(f"{clip} {k}", frames[k]) for k in wanted if k in frames]
    return out


def footage_sheet(models: dict, height: int = 150) -> np.ndarray:
    """One band per row: the chosen frames of real footage with that row's mask over them, for a person to judge."""
    frames = footage_frames()
    rows = [[tile(overlay(rgb, model.mask(rgb)), height, label) for label, rgb in frames] for model in
            models.values()]
    return sheet(rows, list(models), sum(round(height * rgb.shape[1] / rgb.shape[0]) for _, rgb in frames))


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} cores, {platform.system()}"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def table(summaries: dict) -> list[str]:
    lines = ["| row | pictures | mean IoU | mean person kept | mean background kept | under 90% of the person kept |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | {s['pictures']} | {s['mean_iou']:.3f} | {s['mean_person_kept']:.3f} | "
                     f"{s['mean_background_kept']:.3f} | {s['share_under_90_kept']:.0%} "
                     f"({len(s['under_90_kept'])}) |")
    return lines


def case_table(summaries: dict, key: str) -> list[str]:
    cases = sorted({c for s in summaries.values() for c in s[key]})
    lines = ["| row | " + " | ".join(cases) + " |", "|---|" + "---:|" * len(cases)]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{s[key][c]['mean_iou']:.2f} / {s[key][c]['share_under_90_kept']:.0%}" for c in cases) + " |")
    return lines


def bars(summaries: dict) -> list[str]:
    """Issue 23's bars for ``auto`` (at least 90% of the person kept in at least 95% of the pictures, mean IoU at
    least 0.93), over all pictures and per framing."""
    if "auto" not in summaries:
        return []
    lines = ["", ("Issue 23's bars for `auto` (at least 90% of the person kept in at least 95% of the pictures; "
                  "mean IoU at least 0.93):"), ""]
    s = summaries["auto"]
    for label, part in [("all", s), *s["by_framing"].items()]:
        whole, iou = 1 - part["share_under_90_kept"], part["mean_iou"]
        lines.append(f"- {label}: {whole:.0%} of the pictures keep 90% ({'met' if whole >= 0.95 else 'not met'}), "
                     f"mean IoU {iou:.3f} ({'met' if iou >= 0.93 else 'not met'})")
    return lines


def markdown(summaries: dict, skipped: dict, info: dict) -> str:
    lines = ["# People kept whole: pictures of people with ground truth (issue 23)", "",
             (f"{info['pictures']} pictures of {info['people']} people ({info['framings']}): people composited "
              "over cluttered real photos, and call-framed photos as they are, with truth drawn by hand "
              "(`benchmarks/people_truth.py`); made by `benchmarks/people_data.py`, sources in "
              "`benchmarks/people/SOURCES.md`. Masks and truth cut at 0.5. Person kept: share of the true person's "
              "pixels the mask keeps; background kept: share of the true background it keeps. Worst pictures: "
              "`people-worst.jpg`, and of the call-framed ones `people-worst-call.jpg`."), "",
             (f"Machine: {info['machine']}; load average {info['load_before']} before, {info['load_after']} after; "
              f"{info['date']}. Backend: ONNX Runtime on the CPU (`Model(backend=\"cpu\", ...)`)."), "",
             "All pictures:", ""] + table(summaries)
    for framing, title in FRAMINGS.items():
        if any(framing in s["by_framing"] for s in summaries.values()):
            lines += ["", f"{title}:", ""]
            lines += table({name: s["by_framing"][framing] for name, s in summaries.items()})
    lines += bars(summaries)
    lines += ["", "Per case, all framings (mean IoU / share under 90% kept):", ""] + case_table(summaries, "by_case")
    if any(s["call_by_case"] for s in summaries.values()):
        lines += ["", "Per case, call framing only (mean IoU / share under 90% kept):", ""]
        lines += case_table(summaries, "call_by_case")
    if UNION in summaries:
        lines += ["", (f"`{UNION}` is not a model: a benchmark-only row, `auto`'s mask extended by the regions of "
                       f"`{UNION_SALIENT}`'s mask (at 0.5) that overlap it, as issue 23 suggests for keeping what a "
                       "person holds; `auto` itself does not do this.")]
    if FACES_ONLY in summaries:
        lines += ["", (f"`{FACES_ONLY}` is a benchmark-only row: `auto` without its search for standing people "
                       "(`u2live/walkers.py`: where no face is found, OpenCV's HOG people detector proposes standing "
                       "people and the person model runs on a portrait crop around each), so U2-Net†'s mask "
                       "wherever no face is found: `auto` as it was before that search.")]
    if skipped:
        lines += ["", "Skipped rows (not available here yet):", ""]
        lines += [f"- {name}: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def evaluate(rows: list[Row], pictures: list[dict]) -> tuple[dict, dict, dict]:
    """(per-picture results by row name, skipped rows with their reason, loaded models by row name)."""
    results, skipped, models = {}, {}, {}
    for row in rows:
        model, why = load_model(row)
        if model is None:
            print(f"skip {row.name}: {why}", flush=True)
            skipped[row.name] = why
            continue
        start = time.perf_counter()
        results[row.name] = run_row(model, pictures)
        models[row.name] = model
        s = summary(results[row.name])
        print(f"{row.name}: mean IoU {s['mean_iou']:.3f}, under 90% kept {s['share_under_90_kept']:.0%} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return results, skipped, models


def with_cases(per_picture: list[dict]) -> dict:
    s = summary(per_picture)
    for key, field in (("by_case", "case"), ("by_framing", "framing")):
        s[key] = {value: summary([p for p in per_picture if p[field] == value])
                  for value in sorted({p[field] for p in per_picture})}
    calls = [p for p in per_picture if p["framing"] == "call"]
    s["call_by_case"] = {case: summary([p for p in calls if p["case"] == case])
                         for case in sorted({p["case"] for p in calls})}
    return s


def touching_union(person: np.ndarray, salient: np.ndarray) -> np.ndarray:
    """[H, W] uint8: ``person`` extended by the regions of ``salient`` (connected, at 0.5) that overlap it."""
    regions = (salient >= 128).astype(np.uint8)
    _, labels = cv2.connectedComponents(regions)
    touching = np.unique(labels[(person >= 128) & (regions > 0)])
    return np.where(np.isin(labels, touching[touching > 0]), np.maximum(person, salient), person)


def union_row(results: dict, pictures: list[dict]) -> list[dict] | None:
    """The benchmark-only ``UNION`` row from the masks of ``auto`` and ``UNION_SALIENT``, when both ran."""
    if "auto" not in results or UNION_SALIENT not in results:
        return None
    truths = {p["name"]: p["truth"] for p in pictures}
    out = []
    for auto, salient in zip(results["auto"], results[UNION_SALIENT]):
        mask = touching_union(auto["mask"], salient["mask"])
        out.append({**{k: auto[k] for k in ("name", "case", "framing")}, **scores(mask, truths[auto["name"]]),
                    "mask": mask})
    return out


def faces_only_row(model, pictures: list[dict]) -> list[dict] | None:
    """The benchmark-only ``FACES_ONLY`` row, from the loaded ``auto`` model."""
    if model is None:
        return None
    tracker, model.segmenter.walkers = model.segmenter.walkers, None
    try:
        return run_row(model, pictures)
    finally:
        model.segmenter.walkers = tracker


def write(results: dict, skipped: dict, pictures: list[dict], info: dict, out: Path) -> None:
    summaries = {name: with_cases(per_picture) for name, per_picture in results.items()}
    info.update(pictures=len(pictures), people=len({who for p in pictures for who in p["person"].split("+")}),
                framings=", ".join(sorted({p["framing"] for p in pictures})))
    strip = {name: [{k: v for k, v in p.items() if k != "mask"} for p in per_picture]
             for name, per_picture in results.items()}
    (out / "people.json").write_text(json.dumps({"info": info, "summary": summaries, "skipped": skipped,
                                                 "per_picture": strip}, indent=1) + "\n")
    (out / "people.md").write_text(markdown(summaries, skipped, info))
    if results:
        for path, framing in (("people-worst.jpg", None), ("people-worst-call.jpg", "call")):
            if framing is None or any(p["framing"] == framing for p in pictures):
                image = worst_sheet(pictures, results, framing=framing)
                cv2.imwrite(str(out / path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", help="comma-separated rows, e.g. u2netp-320-int8,selfie,auto "
                        "(default: U2-Net† at 160/256/320 x fp32/int8, then selfie, selfie-256 and auto)")
    parser.add_argument("--sheet", action="store_true", help="render the real-footage contact sheet instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = [Row.parse(r) for r in args.rows.split(",")] if args.rows else U2NETP_ROWS + LATER_ROWS
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sheet:
        models = {row.name: m for row in rows for m, why in [load_model(row)] if m is not None or print(
            f"skip {row.name}: {why}")}
        image = footage_sheet(models)
        cv2.imwrite(str(args.out / "people-footage.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 80])
        return 0
    info = {"machine": machine(), "load_before": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    pictures = load_pictures()
    results, skipped, models = evaluate(rows, pictures)
    union = union_row(results, pictures)
    if union is not None:
        results[UNION] = union
    faces_only = faces_only_row(models.get("auto"), pictures)
    if faces_only is not None:
        results[FACES_ONLY] = faces_only
    info["load_after"] = loadavg()
    write(results, skipped, pictures, info, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
