"""``--model auto``: the decision between the person model and U2-Net† holds across frames, and where no person is
in the picture the masks are exactly U2-Net†'s."""
import av
import cv2
import numpy as np
import pytest

from u2live import backends
from u2live.person import ENTER_FRAMES, FACE_EVERY, LEAVE_FRAMES, NOBODY, PERSON, WALKERS, PresenceGate, faces_on_person


def decisions(seen):
    gate = PresenceGate()
    return [gate.update(look) for look in seen]


def test_the_first_look_decides_at_once():
    assert all(decisions([state]) == [state] for state in (PERSON, WALKERS, NOBODY))


def test_a_person_counts_only_after_enough_looks_in_a_row():
    looks = [NOBODY] + [PERSON] * (ENTER_FRAMES - 1) + [NOBODY] + [PERSON] * ENTER_FRAMES
    assert decisions(looks) == [NOBODY] * (2 * ENTER_FRAMES) + [PERSON]


def test_a_brief_loss_of_the_person_keeps_the_person_model():
    looks = [PERSON] + [NOBODY] * (LEAVE_FRAMES - 1) + [PERSON] + [NOBODY] * (LEAVE_FRAMES - 1)
    assert decisions(looks) == [PERSON] * len(looks)
    assert decisions(looks + [NOBODY])[-1] == NOBODY


def test_nearer_answers_take_over_soon_farther_ones_late():
    """Walkers found after nobody turn the decision as soon as a face does; a face lost to walkers (the speaker
    stepped back) turns it as late as a person lost to nobody; mixed answers count for neither."""
    assert decisions([NOBODY] + [WALKERS] * ENTER_FRAMES)[-1] == WALKERS
    assert decisions([WALKERS] + [PERSON] * ENTER_FRAMES)[-1] == PERSON
    assert decisions([PERSON] + [WALKERS] * (LEAVE_FRAMES - 1))[-1] == PERSON
    assert decisions([PERSON] + [WALKERS] * LEAVE_FRAMES)[-1] == WALKERS
    assert decisions([PERSON] + [WALKERS, NOBODY] * LEAVE_FRAMES)[-1] == PERSON


def test_a_face_counts_only_on_the_person_models_mask():
    mask = np.zeros((256, 256), np.float32)
    mask[:, :128] = 1.0  # the person model finds someone in the left half of a 200x400 picture
    left, right = (40, 50, 80, 100, 0.9), (300, 50, 340, 100, 0.9)
    assert faces_on_person([left], mask, 200, 400) == 1 and faces_on_person([right], mask, 200, 400) == 0


def test_animals_and_objects_are_not_people_still_images_of_people_are(reference_dir):
    """The person model marks a meerkat, a monkey, an alpaca and a horse as person; a face on its mask does not."""
    from u2live.images import read_rgb

    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lambda line: None) as auto:
        def seen(name):
            image = read_rgb(reference_dir / "test_images" / name)
            return auto.person_in(image, auto.person_segmenter.predict([image])[0])

        assert not any(seen(name) for name in ("whisk.png", "im_21.png", "0003.jpg", "horse.jpg", "boat.jpg"))
        assert all(seen(name) for name in ("0002-01.jpg", "im_14.png"))


@pytest.fixture(scope="module")
def tree_frames(media_dir):
    """tree.avi (opencv-doc): a tree through a window, nobody in it."""
    with av.open(str(media_dir / "tree.avi")) as clip:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(24), clip.decode(video=0))]
    return np.stack(frames)


def test_without_a_person_auto_gives_exactly_u2netp_masks(tree_frames):
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto, \
            backends.create("cpu", model="u2netp", size=160, precision="fp32", log=lines.append) as salient:
        got = np.concatenate([auto.predict_frames(tree_frames[i:i + 4]) for i in range(0, len(tree_frames), 4)])
        want = np.concatenate([salient.predict_frames(tree_frames[i:i + 4]) for i in range(0, len(tree_frames), 4)])
    assert np.array_equal(got, want)
    assert [line for line in lines if "--model auto" in line] == [
        line for line in lines if line.startswith("u2live: --model auto -> u2netp (salient objects): no person")]


def test_with_a_person_auto_runs_the_person_model_and_says_so(megamind):
    with av.open(str(megamind)) as clip:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(42), clip.decode(video=0)) if i >= 30]
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto, \
            backends.create("cpu", model="selfie", precision="fp32", log=lines.append) as person:
        got = auto.predict_frames(np.stack(frames))
        want = person.predict_frames(np.stack(frames))
        assert "selfie" in auto.describe() and "u2netp" in auto.describe()
    assert np.array_equal(got, want)
    assert any(line.startswith("u2live: --model auto -> selfie (the person model): a person") for line in lines)


def test_a_person_who_turns_away_stays_while_the_person_model_still_sees_them(megamind, tree_frames):
    """Megamind frame 135 shows a woman from behind beside the man: faces or not, once in, the person model's mask
    (covering much of the picture) keeps the decision; frames of a tree (nobody) let it go."""
    with av.open(str(megamind)) as clip:
        frame = next(f.to_ndarray(format="rgb24") for i, f in enumerate(clip.decode(video=0)) if i == 135)
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lambda line: None) as auto:
        auto.person_in = lambda image, mask: False  # no face found from here on
        auto.gate.state = PERSON
        for _ in range(LEAVE_FRAMES * FACE_EVERY + 1):
            auto.predict_frames(frame[None])
        assert auto.gate.state == PERSON
        for i in range(LEAVE_FRAMES * FACE_EVERY + 1):
            auto.predict_frames(tree_frames[i % len(tree_frames)][None])
        assert auto.gate.state == NOBODY


def test_size_auto_sizes_u2netp_alone_and_learns_only_from_its_masks(megamind, tree_frames, tmp_path, monkeypatch):
    """webcam --model auto --size auto: while the person model answers alone, its few ms a mask say nothing of
    U2-Net†'s size (it stays); once U2-Net† runs, its rate moves the ladder, and a move reloads U2-Net† alone: the
    person model, the face detector and the gate's decision stay (no second 'in the first frame' line)."""
    from u2live.adaptive import Setting
    from u2live.job import open_segmenter
    from u2live.spec import ModelSpec

    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path))  # nothing remembered: starts at 160, explores
    with av.open(str(megamind)) as clip:
        person_frames = [f.to_ndarray(format="rgb24")[None]
                         for i, f in zip(range(42), clip.decode(video=0)) if i >= 30]
    lines = []
    model = ModelSpec(model="auto", size="auto", backend="cpu")
    with open_segmenter(model, live=True, log=lines.append) as live:
        auto = live.current
        person, faces = auto.person_segmenter, auto.faces
        now = 0.0
        for i in range(45):  # 4.5 s of a person, 100 masks/s by the model's time: 25 predicted at 320 for U2-Net†
            live.predict_frames(person_frames[i % len(person_frames)])
            now += 0.1
            assert live.refreshed(now, 0.01) is None
        assert auto.gate.state == PERSON and live.size == 160 and live.switches == []
        moves = []
        for i in range(LEAVE_FRAMES * FACE_EVERY + 45):  # nobody: U2-Net† takes over, 50 masks/s at 160
            live.predict_frames(tree_frames[i % len(tree_frames)][None])
            now += 0.1
            moves.append(live.refreshed(now, 0.02))
        assert [m for m in moves if m] == [Setting(320, "int8")] and auto.gate.state == NOBODY
        assert live.current is auto and auto.person_segmenter is person and auto.faces is faces
        assert auto.salient.size == 320 and live.size == 320 and "u2netp int8 320x320" in live.describe()
        assert live.predict_frames(tree_frames[:1]).shape[-1] == 320
    assert sum("in the first frame" in line for line in lines) == 1


def test_a_turn_inside_a_batch_gives_each_frame_its_own_networks_mask(megamind):
    """A batch of numpy frames (the CPU's path) in which the gate turns to the person model at its second look (the
    sixth frame): the frames before keep U2-Net†'s masks, those after get the person model's, at U2-Net†'s size."""
    with av.open(str(megamind)) as clip:
        frames = np.stack([f.to_ndarray(format="rgb24") for i, f in zip(range(38), clip.decode(video=0)) if i >= 30])
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lambda line: None) as auto:
        auto.person_in = lambda image, mask: True  # a face on every look
        auto.gate.update(NOBODY)  # decided before this batch: nobody
        got = auto.predict_frames(frames)
        salient, people = auto.salient.predict_frames(frames), auto.person_segmenter.predict_frames(frames)
    assert isinstance(got, np.ndarray) and got.shape == (8, 160, 160)
    assert np.array_equal(got[:5], salient[:5])
    assert np.array_equal(got[5:], np.stack([cv2.resize(m, (160, 160)) for m in people[5:]]))
    assert not np.array_equal(got[5:], salient[5:])
