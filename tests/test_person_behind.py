"""--model auto on the README's main job, Megamind.avi, measured on hand-checked regions (issue 23).

An over-the-shoulder dialogue: in frame 135 the woman is seen from behind at the left edge, in frame 185 the man at
the right edge. ``tests/data/megamind_regions.json`` holds polygons well inside each person and well inside the
background, drawn on the frames and looked at. ``benchmarks/people_behind.py`` scores every candidate on them.
"""
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from u2live import backends

REGIONS = json.loads((Path(__file__).parent / "data" / "megamind_regions.json").read_text())["frames"]
KEPT, DROPPED = 0.9, 0.1


@pytest.fixture(scope="module")
def auto_masks(megamind):
    """{frame: auto's mask at the frame's size} for frames 135 and 185, each after the five frames before it (the
    gate's first look is the first of them), at the video precision (U2-Net† INT8 at 320, as the main job runs)."""
    wanted = {i for frame in (135, 185) for i in range(frame - 5, frame + 1)}
    with av.open(str(megamind)) as clip:
        frames = {i: f.to_ndarray(format="rgb24") for i, f in zip(range(186), clip.decode(video=0)) if i in wanted}
    out = {}
    for frame in (135, 185):
        with backends.create("cpu", model="auto", size=320, precision="int8", log=lambda line: None) as auto:
            run = np.stack([frames[i] for i in range(frame - 5, frame + 1)])
            out[frame] = cv2.resize(auto.predict_frames(run)[-1], frames[frame].shape[1::-1])
    return out


def kept(mask: np.ndarray, frame: int, region: str) -> float:
    """The mean of ``mask`` over one hand-checked region of ``frame``."""
    inside = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(inside, [np.array(p, np.int32) for p in REGIONS[str(frame)][region]], 1)
    return float(mask[inside.astype(bool)].mean())


@pytest.mark.parametrize("frame, person, background", [(135, "man facing", "wall"), (185, "woman facing", "wall"),
                                                       (185, "woman facing", "table")])
def test_auto_keeps_the_person_facing_the_camera_and_drops_the_room(auto_masks, frame, person, background):
    assert kept(auto_masks[frame], frame, person) >= KEPT
    assert kept(auto_masks[frame], frame, background) <= DROPPED


@pytest.mark.xfail(strict=True, reason="issue 23, open: neither the selfie model (any size, the landscape weights, "
                   "the frame padded) nor U2-Net† marks a person seen from behind at the frame's edge "
                   "(benchmarks/results/people-behind.md); this test fails once a change keeps them")
@pytest.mark.parametrize("frame, person", [(135, "woman from behind"), (185, "man from behind")])
def test_auto_keeps_a_person_seen_from_behind_at_the_frames_edge(auto_masks, frame, person):
    assert kept(auto_masks[frame], frame, person) >= KEPT
