"""Small standing people (u2live/walkers.py, `--model auto` where no face is): found by HOG, cut out by the person
model on a crop around each, followed from frame to frame; nothing found where nobody stands."""
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from u2live import backends
from u2live.walkers import find_walkers, paste

PEOPLE = Path(__file__).resolve().parents[1] / "benchmarks" / "people"


@pytest.fixture(scope="module")
def person_model():
    with backends.create("cpu", model="selfie", precision="fp32", log=lambda line: None) as model:
        yield model.predict


def test_a_small_walker_over_clutter_is_kept_whole(person_model):
    """A vtest walker about 100 px tall beside a fire over a photo of a motorcycle: auto (U2-Net†, no face found)
    keeps the motorcycle and 10% of the walker (IoU 0.00); the person model on a crop around them keeps them."""
    name = "17-vtest-brown-jacket-object"
    rgb = cv2.cvtColor(cv2.imread(str(PEOPLE / "pictures" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(PEOPLE / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) >= 128
    walkers = find_walkers(rgb, person_model)
    assert walkers  # one crop or two overlapping ones around them
    kept = paste(rgb.shape[:2], walkers) > 0.5
    assert (kept & truth).sum() / truth.sum() >= 0.9 and (kept & ~truth).sum() / (~truth).sum() < 0.01


def test_nobody_standing_gives_no_walkers(person_model, media_dir, reference_dir):
    with av.open(str(media_dir / "tree.avi")) as clip:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(24), clip.decode(video=0))]
    baboon = cv2.cvtColor(cv2.imread(str(media_dir / "baboon.jpg")), cv2.COLOR_BGR2RGB)  # its nose is tall and red
    horse = cv2.cvtColor(cv2.imread(str(reference_dir / "test_images" / "horse.jpg")), cv2.COLOR_BGR2RGB)
    assert not any(find_walkers(rgb, person_model) for rgb in [*frames, baboon, horse])


def test_a_picture_lower_than_the_detectors_window_has_no_walkers(person_model):
    """OpenCV's HOG crashes the process on a picture smaller than its 64x128 window: a banner gets none."""
    banner = np.full((134, 1024, 3), 200, np.uint8)
    assert find_walkers(banner, person_model) == []


def test_auto_follows_a_small_walker_through_a_video_and_says_so():
    """The walker of the first test walking left, 3 px a frame, for 40 frames: no face, so auto searches, turns to
    standing people after ENTER_FRAMES looks and follows them between searches; from then on every mask keeps 90% of
    them and under 2% of the clutter (U2-Net†, before the turn, keeps the motorcycle and 10% of the walker)."""
    from u2live.person import ENTER_FRAMES, FACE_EVERY, WALKERS

    name = "17-vtest-brown-jacket-object"
    rgb = cv2.cvtColor(cv2.imread(str(PEOPLE / "pictures" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(PEOPLE / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    shifts = [-3 * i for i in range(40)]
    frames = np.stack([np.roll(rgb, shift, axis=1) for shift in shifts])
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto:
        masks = np.concatenate([auto.predict_frames(frames[i:i + 4]) for i in range(0, len(frames), 4)])
    assert [line for line in lines if "--model auto" in line][-1].startswith(
        "u2live: --model auto -> selfie on a crop around each standing person: standing people and no face")
    turned = ENTER_FRAMES * FACE_EVERY + 1  # the frame after the look that turned it, at the latest
    for mask, shift in list(zip(masks, shifts))[turned:]:
        kept = cv2.resize(mask, rgb.shape[1::-1]) > 0.5
        person = np.roll(truth, shift, axis=1) >= 128
        assert (kept & person).sum() / person.sum() >= 0.9 and (kept & ~person).sum() / (~person).sum() < 0.02
    assert auto.gate.state == WALKERS and len(auto.walkers.walkers) == 1


def test_an_opencv_without_hog_says_so_once_and_auto_still_runs(monkeypatch):
    """OpenCV 5 moved HOG out of the main package: auto then warns in one line and gives U2-Net†'s masks where no
    face is, as it did before the search (never an AttributeError in the middle of a video)."""
    monkeypatch.delattr(cv2, "HOGDescriptor")
    rgb = cv2.cvtColor(cv2.imread(str(PEOPLE / "pictures" / "17-vtest-brown-jacket-object.jpg")), cv2.COLOR_BGR2RGB)
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto, \
            backends.create("cpu", model="u2netp", size=160, precision="fp32", log=lambda line: None) as salient:
        got = auto.predict_frames(np.stack([rgb] * 4))
        want = salient.predict_frames(np.stack([rgb] * 4))
    assert np.array_equal(got, want)
    assert [line for line in lines if "HOG" in line] == [
        (f"u2live: warning: OpenCV {cv2.__version__} has no HOG people detector: --model auto will not search for "
         "people too small for a face (pip install 'opencv-python-headless<5')")]


def test_walkers_keep_their_masks_until_a_face_turns_the_decision():
    """A face seen while walkers are the answer turns the gate only after ENTER_FRAMES looks: until then the frames
    still get the walkers' masks (the walker does not vanish for the frames between the looks)."""
    from u2live.person import PERSON, WALKERS

    name = "17-vtest-brown-jacket-object"
    rgb = cv2.cvtColor(cv2.imread(str(PEOPLE / "pictures" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    person = cv2.imread(str(PEOPLE / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE) >= 128
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lambda line: None) as auto:
        for _ in range(12):
            auto.predict_frames(rgb[None])
        assert auto.gate.state == WALKERS
        auto.person_in = lambda image, mask: True  # a face from here on
        while auto.gate.state == WALKERS:
            mask = auto.predict_frames(rgb[None])[0]
            if auto.gate.state == WALKERS:
                kept = cv2.resize(mask, rgb.shape[1::-1]) > 0.5
                assert (kept & person).sum() / person.sum() >= 0.9
        assert auto.gate.state == PERSON and auto.walkers.walkers == []
