"""The report of ``pose_candidate.py`` (MediaPipe Pose's segmentation on the people benchmark), beside ``auto`` and
``auto+walker-crops`` run again here: ``benchmarks/results/pose-candidate.md``, ``.json`` and ``.jpg``.

Run with u2live's venv after ``pose_candidate.py`` (the mediapipe venv) and ``pose_ops.py``:
``python benchmarks/pose_candidate_report.py [--raw /tmp/pose-candidate-raw.json --masks /tmp/pose-candidate-masks.npz]``

Adds, per Pose crop row ``pose-M+C``, the row ``auto+pose-M+C``: what ``auto+walker-crops`` does with Pose in the
selfie model's place (``auto``'s mask where it finds a face or where no crop has a pose, the pasted Pose crops
elsewhere). The selfie rows ``people.py`` measured are read from ``people.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import people

RESULTS = people.RESULTS
FROM_PEOPLE_JSON = ["selfie", "selfie-256", "u2netp-320-fp32"]
ORACLE = ("+truth-crops",)  # rows that use the truth's box: bounds, not methods
SHEET_HEIGHT = 110
# the rows as this report names them: `auto` before its search for standing people (people.py's `auto-faces-only`),
# and with it (`auto` since), measured as a benchmark-only row when this report was written
WALKERS = "auto+walker-crops"


def rerun_auto(pictures: list[dict]) -> tuple[dict, list[bool]]:
    """``auto`` (its search for standing people is ``auto+walker-crops`` here) and ``auto`` without it, as people.py
    runs them, and whether auto found a face in each picture."""
    results, skipped, models = people.evaluate([people.Row("auto")], pictures)
    if skipped:
        sys.exit(f"auto cannot run here: {skipped}")
    results = {WALKERS: results["auto"], "auto": people.faces_only_row(models["auto"], pictures)}
    auto = models["auto"].segmenter
    faces = [auto.person_in(p["rgb"], auto.person_segmenter.predict([p["rgb"]])[0]) for p in pictures]
    return results, faces


def hybrid(auto: list[dict], faces: list[bool], pose: list[dict], masks, pictures: list[dict], row: str) -> list[dict]:
    """auto's mask where a face is or where Pose's crops found nobody, Pose's pasted crops elsewhere."""
    out = []
    for picture, mine, face, theirs in zip(pictures, auto, faces, pose):
        mask = mine["mask"] if face or not theirs["crops"] else masks[f"{row}|{picture['name']}"]
        out.append({**{k: mine[k] for k in ("name", "case", "framing")}, **people.scores(mask, picture["truth"]),
                    "mask": mask})
    return out


def same_as_people_json(results: dict) -> dict:
    """Largest difference in IoU, per row, between this run's auto rows and people.json's (the same code, so 0)."""
    before = json.loads((RESULTS / "people.json").read_text())["per_picture"]
    out = {}
    for row in ("auto", WALKERS):
        old = {p["name"]: p["iou"] for p in before.get(row, [])}
        out[row] = max((abs(p["iou"] - old[p["name"]]) for p in results[row] if p["name"] in old), default=None)
    return out


def worst(per_picture: list[dict], n: int = 8) -> list[dict]:
    body = [p for p in per_picture if p["framing"] == "full-body"]
    return sorted(body, key=lambda p: (p["person_kept"], p["iou"]))[:n]


def contact_sheet(pictures: list[dict], results: dict, best: str) -> np.ndarray:
    """Four bands: ``best``'s 8 worst full-body pictures, auto+walker-crops on them; then auto+walker-crops' 8
    worst, ``best`` on them. Mask over picture, truth outlined (people.overlay)."""
    by_name = {p["name"]: p for p in pictures}
    rows, labels = [], []
    for lead, other in ((best, WALKERS), (WALKERS, best)):
        chosen = [p["name"] for p in worst(results[lead])]
        for row in (lead, other):
            per = {p["name"]: p for p in results[row]}
            rows.append([people.tile(people.overlay(by_name[n]["rgb"], per[n]["mask"], by_name[n]["truth"]),
                                     SHEET_HEIGHT, f"{n[:2]} {n[3:18]}|kept {per[n]['person_kept']:.2f} "
                                     f"IoU {per[n]['iou']:.2f}") for n in chosen])
            labels.append(f"{row} on {lead}'s 8 worst full-body pictures")
    return people.sheet(rows, labels, max(sum(t.shape[1] for t in r) for r in rows))


def median_ms(per: list[dict], size: list[int] | None) -> str:
    ms = [p["ms"] for p in per if size is None or p["size"] == size]
    return f"{np.median(ms):.0f}" if ms else "-"


def timing_lines(raw: dict) -> list[str]:
    lines = ["| row | median ms, all pictures | median ms, 320x240 | median ms, 640x480 | crops run |",
             "|---|---:|---:|---:|---:|"]
    for row, per in raw["per_picture"].items():
        lines.append(f"| {row} | {median_ms(per, None)} | {median_ms(per, [240, 320])} | "
                     f"{median_ms(per, [480, 640])} | {sum(p['crops'] for p in per)} |")
    return lines


def ops_lines(ops: dict) -> list[str]:
    lines = ["| file | bytes | weights | inputs -> outputs | ops (no DEQUANTIZE) | fused activations |",
             "|---|---:|---:|---|---|---|"]
    for name, d in ops.items():
        shapes = ", ".join("x".join(map(str, o["shape"])) for o in d["outputs"])
        kinds = ", ".join(f"{k} {v}" for k, v in d["ops"].items() if k != "DEQUANTIZE")
        acts = ", ".join(f"{k} {v}" for k, v in d["fused_activations"].items())
        lines.append(f"| {name} | {d['bytes']:,} | {d['weights']:,} | "
                     f"{'x'.join(map(str, d['inputs'][0]['shape']))} -> {shapes} | {kinds} | {acts} |")
    full = ops.get("pose_landmark_full", {}).get("segmentation_only")
    if full:
        chain = " -> ".join(f"{c['op'].replace('DEPTHWISE_CONV_2D', 'DW').replace('CONV_2D', 'CONV')}"
                            f"[{'x'.join(map(str, c['out'][1:]))}]" for c in full["chain"])
        lines += ["", (f"Only the segmentation output (`Identity_2`, 1x256x256x1 logits) needs, in "
                       f"pose_landmark_full: {', '.join(f'{k} {v}' for k, v in full['ops'].items())} "
                       f"(of the {ops['pose_landmark_full']['ops_needed_by_segmentation']} ops it needs in all, the "
                       f"rest is the trunk shared with the landmarks): {chain}.")]
    return lines


def framing_tables(summaries: dict) -> list[str]:
    lines = ["All pictures:", ""] + people.table(summaries)
    for framing, title in people.FRAMINGS.items():
        lines += ["", f"{title}:", ""]
        lines += people.table({name: s["by_framing"][framing] for name, s in summaries.items()
                               if framing in s["by_framing"]})
    return lines


def markdown(summaries: dict, info: dict, raw: dict, ops: dict) -> str:
    rerun = ", ".join(f"{k} {v:.4f}" for k, v in info["auto_rerun_max_iou_difference"].items() if v is not None)
    lines = ["# MediaPipe Pose's segmentation (BlazePose GHUM) as a full-body person model (issue 23)", "",
             ("Measurement only (`benchmarks/pose_candidate.py` with the reference venv's `mediapipe` "
              f"{info['mediapipe']}, `pose_candidate_report.py`, `pose_ops.py`): the people benchmark's 89 pictures "
              "(`benchmarks/people/`), scored as `people.py` does (masks and truth cut at 0.5, truth 32..127 unsure). "
              "`pose_landmark_full.tflite` is the wheel's; the wheel has no lite or heavy model (MediaPipe downloads "
              "them), so `pose_landmark_lite.tflite` comes from the npm package `@mediapipe/pose` 0.5.1675469404 "
              "(its full model is byte-equal to the wheel's). Pose runs as "
              "`mediapipe.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True, model_complexity=...)`: "
              "its own detector, then the landmark model on the person's rotated box; an empty mask where it finds "
              "no pose."), "",
             "Rows (M = full or lite):", "",
             "- `pose-M`: Pose on the whole picture;",
             ("- `pose-M+hog-crops`: Pose on the portrait crop around each of HOG's 3 best proposals "
              "(`walkers.hog_people`, `portrait`: the crops the selfie model gets in `auto+walker-crops`), the "
              "crops with a pose pasted back (`walkers.paste`), `pose-M` where none has one;"),
             ("- `pose-M+walker-crops`: `walkers.find_walkers` with Pose as its person model (its "
              "standing-person check and re-centred second crop), pasted back, `pose-M` where none passes;"),
             ("- `pose-M+wide-crops`: HOG's proposals with room around the person (the box with 0.33 of its size "
              "added on each side: 2.2 times the person's height), the crop grown 2x, Pose's detector at confidence "
              "0.2 (MediaPipe's default 0.5): on the tight crops it finds few of the walkers. These three settings were "
              "chosen on these pictures (on the truth's boxes of the full-body ones), so the row flatters Pose;"),
             ("- `auto+pose-M+...`: `auto+walker-crops` with Pose in the selfie model's place: `auto`'s mask where "
              "auto finds a face or where no crop has a pose, Pose's crops elsewhere;"),
             ("- oracles, not methods (they crop around the truth's own box: what a perfect detector would give): "
              "`pose-M+truth-crops` (the box with 0.6 added on each side, grown 2x, confidence 0.2) and "
              "`selfie-mp+truth-crops` (MediaPipe's own selfie model, general 256x256, on the box with 0.1 added);"),
             (f"- `auto` and `auto+walker-crops` run again here by `people.py`'s own code (largest IoU difference "
              f"from people.json per picture: {rerun}); `selfie`, `selfie-256` and `u2netp-320-fp32` read from "
              f"`people.json` ({info['people_json']['date']}, load {info['people_json']['load_before']})."), "",
             (f"Machine: {info['machine']}; Pose rows run on {info['cpus_allowed']} core (`taskset`), load average "
              f"{info['load_before']} before, {info['load_after']} after (other sessions share the 2 cores); "
              f"{info['date']}. auto found a face in {info['faces']} of the 89 pictures."), ""]
    lines += framing_tables(summaries)
    lines += ["", "Per case, all framings (mean IoU / share under 90% kept):", ""]
    lines += people.case_table({k: v for k, v in summaries.items() if "by_case" in v}, "by_case")
    lines += ["", (f"Time per picture, one core (load {info['load_before']}-{info['load_after']}: noisy; the "
                   "crop rows' time includes HOG's search, about 90 ms of it; a row's first picture after the models "
                   "load is in the median):"), ""]
    lines += timing_lines(raw)
    lines += ["", "## What a port would take (`pose_ops.py`, `pose-ops.json`)", ""] + ops_lines(ops)
    lines += ["", (f"Contact sheet `pose-candidate.jpg`: the best Pose row on full body (`{info['best']}`, not an "
                   "oracle) on its 8 worst full-body pictures with `auto+walker-crops` beneath, then "
                   "`auto+walker-crops`' 8 worst with that Pose row beneath; mask over picture, dropped parts dimmed "
                   "blue, the truth outlined in yellow.")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=Path("/tmp/pose-candidate-raw.json"))
    parser.add_argument("--masks", type=Path, default=Path("/tmp/pose-candidate-masks.npz"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = json.loads(args.raw.read_text())
    masks = np.load(args.masks)
    pictures = people.load_pictures()
    sizes = {p["name"]: list(p["rgb"].shape[:2]) for p in pictures}
    for per in raw["per_picture"].values():
        for p in per:
            p["size"] = sizes[p["name"]]
    results = {row: [{**p, "mask": masks[f"{row}|{p['name']}"]} for p in per]
               for row, per in raw["per_picture"].items()}
    load_before = people.loadavg()
    auto, faces = rerun_auto(pictures)
    for row in [r for r in raw["per_picture"] if "+" in r and not r.endswith(ORACLE) and r.startswith("pose")]:
        results[f"auto+{row}"] = hybrid(auto["auto"], faces, raw["per_picture"][row], masks, pictures, row)
    results.update(auto)
    summaries = {name: people.with_cases(per) for name, per in results.items()}
    before = json.loads((RESULTS / "people.json").read_text())
    for row in FROM_PEOPLE_JSON:
        summaries[f"{row} (people.json)"] = before["summary"][row]
    candidates = [r for r in summaries if r.startswith(("pose", "auto+pose")) and not r.endswith(ORACLE)]
    best = max(candidates, key=lambda r: summaries[r]["by_framing"]["full-body"]["mean_iou"])
    image = contact_sheet(pictures, results, best)
    cv2.imwrite(str(args.out / "pose-candidate.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 75])
    ops = json.loads((RESULTS / "pose-ops.json").read_text())
    info = {**raw["info"], "report_load": [load_before, people.loadavg()], "faces": sum(faces),
            "auto_rerun_max_iou_difference": same_as_people_json(results), "best": best,
            "people_json": before["info"]}
    strip = {name: [{k: v for k, v in p.items() if k != "mask"} for p in per] for name, per in results.items()}
    (args.out / "pose-candidate.json").write_text(json.dumps(
        {"info": info, "summary": summaries, "per_picture": strip}, indent=None) + "\n")
    (args.out / "pose-candidate.md").write_text(markdown(summaries, info, raw, ops))
    print(f"best {best}; sheet {image.shape}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
