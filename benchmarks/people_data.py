"""Builds the people benchmark's pictures (``benchmarks/people/``): people cut out where the cut-out is reliable,
composited over cluttered real photos, with the composite's alpha as ground truth.

Two sources of cut-outs, each checked by eye (``cutouts.png``, written by ``--cutouts``), doubtful ones dropped:

- ``vtest.avi`` (Debian ``opencv-doc``): a fixed camera, so its median frame is a clean plate of the scene and a
  walking person is what differs from it (difference keying, as a background plate does in film). Shadows on the
  ground are left out: a pixel darker than the plate by one factor in every channel is a shadow, not a person.
  Full body, at the clip's own resolution (people 85-150 px tall): nothing is enlarged.
- Tux Paint's photo stamps (Debian ``tuxpaint-stamps-default``): photographs already cut out, with an alpha channel.
  Two firemen in protective suits (full body) are the people; a light bulb, a candle, a road sign and others are
  the salient objects placed beside a person for the hard cases (they are not people: background in the truth).

A third source, call-framed photos (head and shoulders, waist up) of real people with truth made by hand from
strokes (``people_truth.py``), makes the ``call`` pictures: each photo as it is and its people over the backgrounds
below (``people_call.py``).

Backgrounds are real photos from ``opencv-doc`` and scikit-image's data. Hard cases are named in the manifest:
``dark`` (dark clothes over a background darkened to a dim room's level), ``texture`` (hair or outline against a
busy texture: baboon fur, gravel, brick, Van Gogh's brush strokes), ``object`` (a bright or salient object beside
the person), ``sign`` (a street photo whose signs stand out).

Usage: ``python benchmarks/people_data.py --tux DIR [--cutouts]`` where DIR is
``usr/share/tuxpaint/stamps`` of ``dpkg -x tuxpaint-stamps-default_*.deb``. Deterministic (seeded).
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
OPENCV = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples"
MEDIA = OPENCV / "data"

# (person id, frame, x, y, w, h): one walking person each, boxes found by the plate difference, chosen by eye
# among distinct people (clothes and build) in frames at least a second apart.
VTEST_PEOPLE = [
    ("vtest-long-coat", 0, 636, 240, 51, 88), ("vtest-back-jeans", 60, 615, 234, 36, 109),
    ("vtest-white-hood", 135, 565, 196, 35, 85), ("vtest-striped", 150, 590, 228, 38, 90),
    ("vtest-black-paper", 180, 583, 217, 48, 92), ("vtest-brown-jacket", 180, 494, 223, 40, 90),
    ("vtest-bald-jacket", 360, 526, 195, 45, 93), ("vtest-red-jacket", 435, 649, 264, 45, 102),
    ("vtest-puffer", 630, 618, 235, 40, 103), ("vtest-curly-coat", 630, 352, 395, 55, 147),
    ("vtest-blue-jacket", 660, 683, 295, 46, 120), ("vtest-glasses-coat", 540, 634, 287, 46, 105),
    ("vtest-blonde-coat", 735, 109, 224, 34, 83),
]
DARK_CLOTHES = {"vtest-long-coat", "vtest-black-paper", "vtest-curly-coat", "vtest-glasses-coat",
                "vtest-blonde-coat", "vtest-bald-jacket"}
TUX_PEOPLE = [("tux-fireman-a", "people/fireman200b.png"), ("tux-fireman-b", "military/fireman240a.png")]
TUX_OBJECTS = {"lightbulb": "household/Lightbulb.png", "candle": "seasonal/candle.png",
               "stop-sign": "town/roadsigns/stop.png", "traffic-light": "town/roadsigns/stoplight_01_red.png",
               "guitar": "hobbies/music/string/guitar_electric.png", "fire": "naturalforces/fire.png",
               "ball": "sports/basketball.png", "cone": "town/roadsigns/traffic_cone.png"}
GLOWING = {"lightbulb", "candle", "fire", "traffic-light"}  # drawn with a bright halo: a lit lamp beside the person
BACKGROUNDS = {  # name -> path; cluttered real photos
    "fruits": MEDIA / "fruits.jpg", "home": MEDIA / "home.jpg", "building": MEDIA / "building.jpg",
    "stuff": MEDIA / "stuff.jpg", "board": MEDIA / "board.jpg", "leuven": MEDIA / "leuvenA.jpg",
    "box-in-scene": MEDIA / "box_in_scene.png", "aero": MEDIA / "aero1.jpg",
    "signs-sports": OPENCV / "text" / "scenetext02.jpg", "signs-street": OPENCV / "text" / "scenetext05.jpg",
}
TEXTURES = {"baboon": MEDIA / "baboon.jpg", "starry-night": MEDIA / "starry_night.jpg"}
SKIMAGE = {"coffee": "coffee", "rocket": "rocket", "motorcycle": "stereo_motorcycle"}  # the last: its left view
SKIMAGE_TEXTURES = {"gravel": "gravel", "brick": "brick", "grass": "grass"}
DARK_GAIN = 0.22  # a lit room photographed at night, roughly: the darkened background's mean lands near 25-30/255


def vtest_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(MEDIA / "vtest.avi"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def plate_mask(frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """[H, W] uint8 0/1: where the frame differs from the clean plate, shadows (darker by one factor in every
    channel) left out, small specks opened away and gaps closed."""
    f = cv2.GaussianBlur(frame, (3, 3), 0).astype(np.float32)
    p = cv2.GaussianBlur(plate, (3, 3), 0).astype(np.float32)
    ratio = (f + 4) / (p + 4)
    shadow = (ratio.max(2) < 0.95) & (ratio.min(2) > 0.35) & (ratio.max(2) - ratio.min(2) < 0.15)
    mask = ((np.abs(f - p).sum(2) > 60) & ~shadow).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))


def largest_filled(mask: np.ndarray) -> np.ndarray:
    """The largest connected region of a 0/1 mask with its holes filled (a person has no holes at this size)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    region = (labels == 1 + int(np.argmax(stats[1:, 4]))).astype(np.uint8)
    outside = region.copy()
    cv2.floodFill(outside, np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8), (0, 0), 1)
    return region | (1 - outside)


def vtest_cutouts() -> dict[str, np.ndarray]:
    """person id -> [h, w, 4] uint8 RGBA cut from vtest.avi by the plate difference."""
    frames = vtest_frames()
    plate = np.median(np.stack(frames[::5]), axis=0).astype(np.uint8)
    cutouts = {}
    for name, k, x, y, w, h in VTEST_PEOPLE:
        x0, y0, x1, y1 = max(x - 12, 0), max(y - 12, 0), min(x + w + 12, 768), min(y + h + 12, 576)
        region = largest_filled(plate_mask(frames[k], plate)[y0:y1, x0:x1])
        # one pixel in from the difference's edge: the plate's grey mixes into the outline's pixels (and JPEG's)
        region = cv2.erode(region, np.ones((3, 3), np.uint8))
        alpha = np.clip(cv2.GaussianBlur(region.astype(np.float32), (3, 3), 0.6) * 255, 0, 255).astype(np.uint8)
        cutouts[name] = np.dstack([frames[k][y0:y1, x0:x1], alpha])
    return cutouts


def read_rgba(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


def tight(rgba: np.ndarray) -> np.ndarray:
    """Cropped to the box of its alpha >= 8."""
    ys, xs = np.nonzero(rgba[..., 3] >= 8)
    return rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def backgrounds() -> dict[str, np.ndarray]:
    """name -> [H, W, 3] uint8 RGB: the cluttered photos, then the textures (``texture-`` prefix)."""
    from skimage import data

    out = {name: cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for name, path in BACKGROUNDS.items()}
    for name, attr in SKIMAGE.items():
        image = getattr(data, attr)()
        out[name] = image[0] if isinstance(image, tuple) else image
    out.update({f"texture-{n}": cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for n, p in TEXTURES.items()})
    for name, attr in SKIMAGE_TEXTURES.items():
        image = getattr(data, attr)()
        out[f"texture-{name}"] = np.dstack([image] * 3) if image.ndim == 2 else image[..., :3]
    return out


def cover(image: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``image`` at the canvas's aspect, resized to width x height (covers it, no bars)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h) * rng.uniform(1.0, 1.3)
    resized = cv2.resize(image, (max(width, round(w * scale)), max(height, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    y = rng.integers(0, resized.shape[0] - height + 1)
    x = rng.integers(0, resized.shape[1] - width + 1)
    return resized[y:y + height, x:x + width].copy()


def scaled(rgba: np.ndarray, height: int) -> np.ndarray:
    h, w = rgba.shape[:2]
    size = (max(1, round(w * height / h)), height)
    return cv2.resize(rgba, size, interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR)


def paste(canvas: np.ndarray, rgba: np.ndarray, x: int, y: int) -> np.ndarray:
    """Alpha-composites ``rgba`` onto ``canvas`` (float32 RGB, in place) with its top-left at (x, y), clipped to
    the canvas; returns its alpha on the whole canvas, [H, W] float32 in [0, 1]."""
    H, W = canvas.shape[:2]
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    part = rgba[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32)
    alpha = np.zeros((H, W), np.float32)
    alpha[y0:y1, x0:x1] = part[..., 3] / 255.0
    a = alpha[y0:y1, x0:x1, None]
    canvas[y0:y1, x0:x1] = part[..., :3] * a + canvas[y0:y1, x0:x1] * (1 - a)
    return alpha


def glow(canvas: np.ndarray, cx: float, cy: float, radius: float) -> None:
    """Brightens the canvas around (cx, cy) as a lit lamp lights its surroundings (in place)."""
    ys, xs = np.mgrid[:canvas.shape[0], :canvas.shape[1]].astype(np.float32)
    light = 0.85 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius ** 2))
    canvas += (255.0 - canvas) * light[..., None]


def compose(person: np.ndarray, background: np.ndarray, spec: dict, objects: dict, rng) -> tuple:
    """(rgb [H, W, 3] uint8, truth [H, W] uint8 0/255) for one picture described by ``spec``."""
    width, height = spec["size"]
    canvas = cover(background, width, height, rng).astype(np.float32)
    if spec["case"] == "dark":
        canvas *= DARK_GAIN
    if spec["framing"] == "upper-body":  # head and chest fill the frame, cut by its bottom edge as in a call
        person = person[:round(person.shape[0] * 0.55)]
        body = scaled(person, round(height * 0.95))
        x, y = (width - body.shape[1]) // 2 + rng.integers(-width // 10, width // 10 + 1), height - body.shape[0]
    else:
        body = scaled(person, min(round(person.shape[0] * spec["scale"]), round(height * 0.9)))
        x = rng.integers(width // 8, max(width // 8 + 1, width - body.shape[1] - width // 8))
        y = height - body.shape[0] - rng.integers(4, max(5, height // 12))
    if spec.get("object"):
        place_object(canvas, objects[spec["object"]], spec["object"], (x, y, body.shape[1], body.shape[0]), rng)
    alpha = paste(canvas, body, int(x), int(y))
    rgb = np.clip(canvas, 0, 255).astype(np.uint8)
    return rgb, np.where(alpha >= 0.5, 255, 0).astype(np.uint8)


def place_object(canvas: np.ndarray, rgba: np.ndarray, name: str, box: tuple, rng) -> None:
    """Pastes a salient object beside the person's box (on the side with more room), lit if it glows."""
    x, y, w, h = box
    width = canvas.shape[1]
    thing = scaled(rgba, max(8, round(h * rng.uniform(0.45, 0.7))))
    gap = max(2, w // 8)
    ox = x + w + gap if width - (x + w) > x else x - gap - thing.shape[1]
    oy = y + h - thing.shape[0] - rng.integers(0, max(1, h // 4))
    if name in GLOWING:
        glow(canvas, ox + thing.shape[1] / 2, oy + thing.shape[0] / 3, thing.shape[0] * 0.6)
    paste(canvas, thing, int(ox), int(oy))


def plan() -> list[dict]:
    """Every picture to make: three per vtest person (a cluttered photo; dark clothes over a dark room, or a busy
    texture; a salient object beside them), six per fireman (full body and upper body)."""
    clutter = list(BACKGROUNDS) + list(SKIMAGE)
    textures = [f"texture-{n}" for n in (*TEXTURES, *SKIMAGE_TEXTURES)]
    objects = list(TUX_OBJECTS)
    specs = []
    for i, (person, *_) in enumerate(VTEST_PEOPLE):
        base = {"person": person, "source": "vtest", "framing": "full-body", "size": (320, 240), "scale": 1.0}
        hard = ({"case": "dark", "background": clutter[(i + 4) % len(clutter)]} if person in DARK_CLOTHES
                else {"case": "texture", "background": textures[i % len(textures)]})
        specs += [{**base, "case": "clutter", "background": clutter[i % len(clutter)]}, {**base, **hard},
                  {**base, "case": "object", "background": clutter[(i + 7) % len(clutter)],
                   "object": objects[i % len(objects)]}]
    for j, (person, _) in enumerate(TUX_PEOPLE):
        base = {"person": person, "source": "tuxpaint", "size": (640, 480), "scale": 1.0}
        full, upper = {**base, "framing": "full-body"}, {**base, "framing": "upper-body"}
        specs += [{**full, "case": "clutter", "background": clutter[(3 + j) % len(clutter)]},
                  {**full, "case": "texture", "background": textures[(1 + j) % len(textures)]},
                  {**full, "case": "object", "background": clutter[(8 + j) % len(clutter)], "object": "lightbulb"},
                  {**full, "case": "sign", "background": ("signs-sports", "signs-street")[j]},
                  {**upper, "case": "clutter", "background": clutter[(5 + j) % len(clutter)]},
                  {**upper, "case": "texture", "background": textures[(3 + j) % len(textures)]}]
    for n, spec in enumerate(specs):
        spec["name"] = f"{n:02d}-{spec['person']}-{spec['case']}"
    return specs


def cut(tux: Path) -> None:
    """Writes the cut-outs (``cutouts/``, RGBA PNG) from their sources, and ``cutouts.png`` to check them by eye."""
    (OUT / "cutouts" / "objects").mkdir(parents=True, exist_ok=True)
    people = vtest_cutouts()
    people.update({name: tight(read_rgba(tux / path)) for name, path in TUX_PEOPLE})
    for name, rgba in people.items():
        cv2.imwrite(str(OUT / "cutouts" / f"{name}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    for name, path in TUX_OBJECTS.items():
        rgba = tight(read_rgba(tux / path))
        rgba = scaled(rgba, min(rgba.shape[0], 300))
        cv2.imwrite(str(OUT / "cutouts" / "objects" / f"{name}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def load_cutouts(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: read_rgba(p) for p in sorted(folder.glob("*.png"))}


def build() -> list[dict]:
    """Composes every planned picture from the committed cut-outs; writes pictures/, masks/ and manifest.json."""
    rng = np.random.default_rng(23)
    people, objects = load_cutouts(OUT / "cutouts"), load_cutouts(OUT / "cutouts" / "objects")
    bgs = backgrounds()
    for sub in ("pictures", "masks"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    records = []
    for spec in plan():
        rgb, truth = compose(people[spec["person"]], bgs[spec["background"]], spec, objects, rng)
        image, mask = f"pictures/{spec['name']}.jpg", f"masks/{spec['name']}.png"
        cv2.imwrite(str(OUT / image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(OUT / mask), truth)
        records.append({**spec, "size": list(spec["size"]), "image": image, "mask": mask})
    import people_call  # here, not at the top: it imports this module (its backgrounds and compositing)

    records += people_call.build(len(records), bgs, objects)
    (OUT / "manifest.json").write_text(json.dumps({"pictures": records}, indent=1) + "\n")
    return records


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tux", type=Path, help="usr/share/tuxpaint/stamps of the unpacked Debian package: "
                        "(re)cut the cut-outs from their sources first")
    args = parser.parse_args(argv)
    if args.tux:
        cut(args.tux)
    records = build()
    people = {who for r in records for who in r["person"].split("+")}
    print(f"{len(records)} pictures of {len(people)} people in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
