"""MediaPipe Pose's segmentation (BlazePose GHUM) as a full-body person model, on the people benchmark (issue 23).

Measurement only, run with the reference venv that has the ``mediapipe`` wheel (0.10.21), not u2live's:
``/work/venvs/mediapipe/bin/python benchmarks/pose_candidate.py --npm DIR`` where DIR is the unpacked npm package
``@mediapipe/pose`` (``npm pack @mediapipe/pose``): the wheel has only ``pose_landmark_full.tflite``, and its
``model_complexity=0`` (lite) and 2 (heavy) would download theirs from Google's storage; the npm package ships all
three (its full file is byte-equal to the wheel's), so they are given to MediaPipe through a resource folder here.

Rows, per landmark model (full, lite; heavy with ``--heavy``), each ``mediapipe.solutions.pose.Pose(
static_image_mode=True, enable_segmentation=True)`` (its own detector, then the 256x256 landmark model on the
person's rotated box; the segmentation mask comes back at the input's size, empty where no pose is found):

- ``pose-M``: on the whole picture;
- ``pose-M+hog-crops``: on the portrait crop around each of HOG's best proposals (``walkers.py``, the
  ``auto+walker-crops`` row's detector), the crops where a pose is found pasted back; the whole picture's answer where
  none is;
- ``pose-M+walker-crops``: ``walkers.find_walkers`` with Pose as its person model (its standing-person check
  and second, re-centred crop), pasted back; the whole picture's answer where none passes;
- ``pose-M+wide-crops``: HOG's proposals with room around the person, grown, a looser detector (see TRUTH_MARGIN);
- oracles, not methods (a crop around the truth's own box): ``pose-M+truth-crops``, and ``selfie-mp+truth-crops``
  with MediaPipe's own selfie model, to tell the segmenter's quality from the detector's.

Scores as ``people.py`` defines them (``people.scores``: masks and truth cut at 0.5, truth 32..127 unsure). Writes the
per-picture scores, times and crop counts to ``--out`` (JSON) and the masks to ``--masks`` (npz), which
``pose_candidate_report.py`` (u2live's venv) turns into ``benchmarks/results/pose-candidate.md``, ``.json`` and
``.jpg`` beside ``auto`` and ``auto+walker-crops`` run again there. Run it under ``taskset -c N`` for one core's times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # people.py, and u2live.walkers (numpy and OpenCV only)

import people
from u2live import walkers

COMPLEXITY = {"lite": 0, "full": 1, "heavy": 2}
SIDE = 256  # the crop masks handed to walkers, as the selfie model's are


def resource_folder(npm: Path) -> Path:
    """A MediaPipe resource root: the wheel's modules, with the npm package's lite and heavy landmark models added."""
    import mediapipe

    package = Path(mediapipe.__file__).parent
    root = Path(tempfile.mkdtemp(prefix="pose-resources-"))
    modules = root / "mediapipe" / "modules"
    modules.mkdir(parents=True)
    for entry in (package / "modules").iterdir():
        if entry.name != "pose_landmark":
            (modules / entry.name).symlink_to(entry)
    landmark = modules / "pose_landmark"
    landmark.mkdir()
    for entry in (package / "modules" / "pose_landmark").iterdir():
        (landmark / entry.name).symlink_to(entry)
    for name in ("pose_landmark_lite.tflite", "pose_landmark_heavy.tflite"):
        if (npm / name).is_file():
            (landmark / name).symlink_to(npm / name)
    return root


def use_resources(root: Path) -> None:
    """Point MediaPipe's solutions at ``root`` and stop them downloading (they look in the package's own folder)."""
    from mediapipe.python import solution_base
    from mediapipe.python.solutions import pose

    real = solution_base.resource_util

    class Resources:  # solution_base sets the package's folder before each graph starts
        @staticmethod
        def set_resource_dir(_path: str) -> None:
            real.set_resource_dir(str(root))

    solution_base.resource_util = Resources
    pose._download_oss_pose_landmark_model = lambda complexity: None


#: wide crops (the ``+wide-crops`` and ``+truth-crops`` rows): Pose's detector finds few of the walkers on the tight
#: crops the selfie model gets (19 of 47 full-body pictures on the truth's own box), more with room around the person,
#: the crop grown 2x and a looser detector: the truth's box with 0.6 of its size added on each side (the crop 2.2
#: times the person's height), HOG's box with 0.33 (its 64x128 window holds a person about 96 px tall, so the same
#: 2.2 times), grown UPSCALE times, detection confidence LOOSE (MediaPipe's default 0.5). Chosen on these pictures.
TRUTH_MARGIN, HOG_MARGIN, UPSCALE, LOOSE = 0.6, 0.33, 2, 0.2
#: the selfie model's margin on the truth's box (``selfie-mp+truth-crops``): its best of 0, 0.1, 0.3 and 0.6 here
SELFIE_MARGIN = 0.1


class PoseMasks:
    """One landmark model's segmentation masks: [H, W] float32 in [0, 1] of an RGB picture, or None (no pose)."""

    def __init__(self, complexity: int, confidence: float = 0.5):
        from mediapipe.python.solutions.pose import Pose

        self.pose = Pose(static_image_mode=True, model_complexity=complexity, enable_segmentation=True,
                         min_detection_confidence=confidence)

    def mask(self, rgb: np.ndarray) -> np.ndarray | None:
        found = self.pose.process(np.ascontiguousarray(rgb)).segmentation_mask
        return None if found is None else np.clip(found, 0.0, 1.0).astype(np.float32)

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        """walkers' Predict: [n, SIDE, SIDE] masks, zero where no pose is found."""
        out = np.zeros((len(images), SIDE, SIDE), np.float32)
        for i, image in enumerate(images):
            found = self.mask(image)
            if found is not None:
                out[i] = cv2.resize(found, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
        return out


class SelfieMasks:
    """MediaPipe's own selfie model (general, 256x256), for the oracle row beside Pose's."""

    def __init__(self):
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

        self.selfie = SelfieSegmentation(model_selection=0)

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        return np.clip(self.selfie.process(np.ascontiguousarray(rgb)).segmentation_mask, 0.0, 1.0)


def whole(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    found = models["strict"].mask(picture["rgb"])
    return (np.zeros(picture["rgb"].shape[:2], np.float32) if found is None else found), 0


def pasted(models: dict, picture: dict, boxes: list, key: str, upscale: int = 1) -> tuple[np.ndarray, int]:
    """``models[key]`` on the crop of each box (grown ``upscale`` times), the crops with a mask pasted back; the
    whole picture's answer where none has one."""
    rgb, kept = picture["rgb"], []
    for box in boxes:
        crop = walkers.cut(rgb, box)
        if upscale > 1:
            crop = cv2.resize(crop, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
        mask = models[key].mask(crop)
        if mask is not None:
            kept.append((box, cv2.resize(mask, (SIDE, SIDE), interpolation=cv2.INTER_AREA)))
    if not kept:
        return whole(models, picture)
    return walkers.paste(rgb.shape[:2], kept), len(kept)


def hog_boxes(rgb: np.ndarray, margin: float = 0.0) -> list:
    return [walkers.portrait(*found[:4], margin) for found in walkers.hog_people(rgb)[:walkers.PROPOSALS]]


def truth_box(picture: dict, margin: float) -> list:
    ys, xs = np.nonzero(picture["truth"] >= 128)
    return [walkers.portrait(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, margin)] if len(xs) else []


def hog_crops(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    """HOG's best proposals, Pose on the portrait crop around each (as the selfie model gets them)."""
    return pasted(models, picture, hog_boxes(picture["rgb"]), "strict")


def wide_crops(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    """HOG's best proposals, Pose on a wider crop around each, grown, with the looser detector (see TRUTH_MARGIN)."""
    return pasted(models, picture, hog_boxes(picture["rgb"], HOG_MARGIN), "loose", UPSCALE)


def walker_crops(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    """walkers.find_walkers with Pose as the person model, pasted back."""
    found = walkers.find_walkers(picture["rgb"], models["strict"].predict)
    if not found:
        return whole(models, picture)
    return walkers.paste(picture["rgb"].shape[:2], found), len(found)


def truth_crops(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    """Oracle, not a method: Pose on a wide crop around the truth's own box (what a perfect detector would give)."""
    return pasted(models, picture, truth_box(picture, TRUTH_MARGIN), "loose", UPSCALE)


def selfie_truth_crops(models: dict, picture: dict) -> tuple[np.ndarray, int]:
    """Oracle: MediaPipe's selfie model on a portrait crop around the truth's own box."""
    return pasted(models, picture, truth_box(picture, SELFIE_MARGIN), "selfie")


WAYS = {"": whole, "+hog-crops": hog_crops, "+walker-crops": walker_crops, "+wide-crops": wide_crops,
        "+truth-crops": truth_crops}


def run(name: str, way, models: dict, pictures: list[dict]) -> tuple[list[dict], np.ndarray]:
    """Per picture: scores, milliseconds, crops pasted; and its [H, W] uint8 mask."""
    rows, masks = [], []
    for picture in pictures:
        start = time.perf_counter()
        found, crops = way(models, picture)
        ms = (time.perf_counter() - start) * 1000
        mask = np.clip(found * 255 + 0.5, 0, 255).astype(np.uint8)
        rows.append({"name": picture["name"], "case": picture["case"], "framing": picture["framing"],
                     **people.scores(mask, picture["truth"]), "ms": ms, "crops": crops})
        masks.append(mask)
    s = people.summary(rows)
    print(f"{name}: mean IoU {s['mean_iou']:.3f}, under 90% kept {s['share_under_90_kept']:.0%}, "
          f"median {np.median([r['ms'] for r in rows]):.0f} ms", flush=True)
    return rows, masks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npm", type=Path, required=True, help="the unpacked @mediapipe/pose npm package")
    parser.add_argument("--heavy", action="store_true", help="also the heavy landmark model (27 MB)")
    parser.add_argument("--names", help="comma-separated pictures (default: all of the manifest)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pose-candidate-raw.json"))
    parser.add_argument("--masks", type=Path, default=Path("/tmp/pose-candidate-masks.npz"))
    args = parser.parse_args(argv)
    use_resources(resource_folder(args.npm))
    import mediapipe

    info = {"machine": people.machine(), "cpus_allowed": len(os.sched_getaffinity(0)), "load_before": people.loadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "mediapipe": mediapipe.__version__}
    pictures = people.load_pictures(names=args.names.split(",") if args.names else None)
    results, masks = {}, {}
    for size in ["full", "lite"] + (["heavy"] if args.heavy else []):
        models = {"strict": PoseMasks(COMPLEXITY[size]), "loose": PoseMasks(COMPLEXITY[size], LOOSE)}
        for model in models.values():
            model.mask(pictures[0]["rgb"])  # the graph's first run loads the models: not a picture's time
        for suffix, way in WAYS.items():
            name = f"pose-{size}{suffix}"
            results[name], masks[name] = run(name, way, models, pictures)
    name = "selfie-mp+truth-crops"
    results[name], masks[name] = run(name, selfie_truth_crops, {"selfie": SelfieMasks()}, pictures)
    info["load_after"] = people.loadavg()
    args.out.write_text(json.dumps({"info": info, "per_picture": results}, indent=1) + "\n")
    np.savez_compressed(args.masks, **{f"{row}|{picture['name']}": mask for row, row_masks in masks.items()
                                       for picture, mask in zip(pictures, row_masks)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
