"""The people benchmark's pictures from real photos with hand-made truth: the call-framed ones (``framing: call``)
and a street photo of people at full body. Each photo of ``people_truth.PHOTOS`` as it is (case ``real``, its own
background; the truth covers every person in it), and its people, cut out by that truth,
over the cluttered backgrounds of ``people_data.py`` at the photo's own framing and size: a cluttered photo
(``clutter``), a bright lamp or sign beside the person (``object``), and the hard cases the issue names, dark
clothes or dark hair over a room at night (``dark``) and hair against a busy texture (``texture``).

A composite keeps the photo's pixels where the truth is person, feathered over 1 px as the other cut-outs are; its
truth is that alpha at 0.5. Hair that the truth cut short keeps a thin fringe of its old background: the truth's
boundary is the accuracy to expect there (``people/SOURCES.md``).
"""
from __future__ import annotations

import cv2
import numpy as np
import people_data as data
import people_truth

# who is in each photo ("+" between two people); the photos of one person share a name
PEOPLE = {"astronaut": "astronaut", "hopper": "hopper", "carphone": "carphone-man",
          "tutorial-man-green": "tutorial-man-green", "tutorial-man-white": "tutorial-man-white",
          "webcam-woman-a": "webcam-woman", "webcam-woman-b": "webcam-woman", "portrait-long-hair": "long-hair-woman",
          "blonde-woman": "blonde-woman"}
FRAMING: dict[str, str] = {}  # a photo's framing where it is not a call
# dark clothes or dark hair: over a room at night; long or curly hair: against a busy texture
DARK = {"hopper", "carphone", "webcam-woman-a", "webcam-woman-b", "portrait-long-hair"}
HAIR = {"astronaut", "tutorial-man-white", "tutorial-man-green", "webcam-woman-a", "portrait-long-hair", "blonde-woman"}
CALL_OBJECTS = ["lightbulb", "stop-sign", "candle", "traffic-light", "fire"]


def plan(start: int) -> list[dict]:
    """Every picture made from the photos, numbered from ``start``."""
    clutter = list(data.BACKGROUNDS) + list(data.SKIMAGE)
    textures = [f"texture-{n}" for n in (*data.TEXTURES, *data.SKIMAGE_TEXTURES)]
    specs = []
    for i, photo in enumerate(people_truth.PHOTOS):
        base = {"person": PEOPLE[photo], "photo": photo, "source": people_truth.PHOTOS[photo][0],
                "framing": FRAMING.get(photo, "call")}
        specs += [{**base, "case": "real"}, {**base, "case": "clutter", "background": clutter[(2 * i + 1) % len(clutter)]},
                  {**base, "case": "object", "background": clutter[(2 * i + 6) % len(clutter)],
                   "object": CALL_OBJECTS[i % len(CALL_OBJECTS)]}]
        if photo in DARK:
            specs.append({**base, "case": "dark", "background": clutter[(i + 3) % len(clutter)]})
        if photo in HAIR or photo not in DARK:
            specs.append({**base, "case": "texture", "background": textures[i % len(textures)]})
    for n, spec in enumerate(specs, start):
        spec["name"] = f"{n:02d}-{spec['photo']}-{spec['case']}"
    return specs


def side_object(canvas: np.ndarray, rgba: np.ndarray, name: str, person: np.ndarray, rng) -> None:
    """Pastes a salient object in the upper part of the side with less of the person, lit if it glows; the person
    is pasted over it afterwards, as one sits in front of a lamp."""
    h, w = person.shape
    thing = data.scaled(rgba, max(8, round(h * rng.uniform(0.35, 0.5))))
    left = np.count_nonzero(person[:, :w // 2]) < np.count_nonzero(person[:, w // 2:])
    margin = round(w * rng.uniform(0.02, 0.08))
    ox = margin if left else w - margin - thing.shape[1]
    oy = round(h * rng.uniform(0.05, 0.3))
    if name in data.GLOWING:
        data.glow(canvas, ox + thing.shape[1] / 2, oy + thing.shape[0] / 3, thing.shape[0] * 0.6)
    data.paste(canvas, thing, int(ox), int(oy))


def compose(photo: np.ndarray, truth: np.ndarray, background: np.ndarray, spec: dict, objects: dict, rng):
    """(rgb [H, W, 3] uint8, truth [H, W] uint8 0/255): the photo's people over ``background`` at the photo's size."""
    h, w = truth.shape
    canvas = data.cover(background, w, h, rng).astype(np.float32)
    if spec["case"] == "dark":
        canvas *= data.DARK_GAIN
    person = truth == 255
    if spec.get("object"):
        side_object(canvas, objects[spec["object"]], spec["object"], person, rng)
    alpha = np.clip(cv2.GaussianBlur(person.astype(np.float32), (3, 3), 0.6), 0, 1)
    data.paste(canvas, np.dstack([photo, np.round(alpha * 255).astype(np.uint8)]), 0, 0)
    return np.clip(canvas, 0, 255).astype(np.uint8), np.where(alpha >= 0.5, 255, 0).astype(np.uint8)


def build(start: int, backgrounds: dict, objects: dict) -> list[dict]:
    """Writes the photos' pictures' masks (and composites) and returns their manifest records."""
    rng = np.random.default_rng(2323)  # its own generator: the other pictures stay as they were
    photos = {name: people_truth.load(name) for name in people_truth.PHOTOS}
    truths = {name: people_truth.truth(rgb, ann) for name, (rgb, ann) in photos.items()}
    records = []
    for spec in plan(start):
        rgb, truth = photos[spec["photo"]][0], truths[spec["photo"]]
        image, mask = f"photos/{spec['photo']}.jpg", f"masks/{spec['name']}.png"
        if spec["case"] != "real":
            rgb, truth = compose(rgb, truth, backgrounds[spec["background"]], spec, objects, rng)
            image = f"pictures/{spec['name']}.jpg"
            cv2.imwrite(str(data.OUT / image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(data.OUT / mask), truth)
        records.append({**spec, "size": [rgb.shape[1], rgb.shape[0]], "image": image, "mask": mask})
    return records
