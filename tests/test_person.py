"""``--model auto``: the decision between the person model and U2-Net† holds across frames, and where no person is
in the picture the masks are exactly U2-Net†'s."""
import av
import numpy as np
import pytest
import torch

from u2live import backends
from u2live.person import ABSENT_SHARE, ENTER_FRAMES, LEAVE_FRAMES, PRESENT_SHARE, PresenceGate

SEEN, UNSEEN = PRESENT_SHARE * 10, 0.0


def decisions(shares):
    gate = PresenceGate()
    return [gate.update(share) for share in shares]


def test_the_first_frame_decides_at_once():
    assert decisions([SEEN]) == [True] and decisions([UNSEEN]) == [False]


def test_a_person_counts_only_after_enough_frames_in_a_row():
    shares = [UNSEEN] + [SEEN] * (ENTER_FRAMES - 1) + [UNSEEN] + [SEEN] * ENTER_FRAMES
    assert decisions(shares) == [False] * (2 * ENTER_FRAMES) + [True]


def test_a_brief_loss_of_the_person_keeps_the_person_model():
    between = (ABSENT_SHARE + PRESENT_SHARE) / 2  # neither present nor gone: no change either way
    shares = [SEEN] + [UNSEEN] * (LEAVE_FRAMES - 1) + [between] + [UNSEEN] * (LEAVE_FRAMES - 1)
    assert all(decisions(shares))
    assert decisions(shares + [UNSEEN])[-1] is False


@pytest.fixture(scope="module")
def tree_frames(media_dir):
    """tree.avi (opencv-doc): a tree through a window, nobody in it."""
    with av.open(str(media_dir / "tree.avi")) as clip:
        frames = [frame.to_ndarray(format="rgb24") for _, frame in zip(range(24), clip.decode(video=0))]
    return torch.from_numpy(np.stack(frames))


def test_without_a_person_auto_gives_exactly_u2netp_masks(tree_frames):
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto, \
            backends.create("cpu", model="u2netp", size=160, precision="fp32", log=lines.append) as salient:
        got = torch.cat([auto.predict_frames(tree_frames[i:i + 4]) for i in range(0, len(tree_frames), 4)])
        want = torch.cat([salient.predict_frames(tree_frames[i:i + 4]) for i in range(0, len(tree_frames), 4)])
    assert torch.equal(got, want)
    assert [line for line in lines if "--model auto" in line] == [
        line for line in lines if line.startswith("u2live: --model auto -> u2netp (salient objects): no person")]


def test_with_a_person_auto_runs_the_person_model_and_says_so(megamind):
    with av.open(str(megamind)) as clip:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(40), clip.decode(video=0)) if i >= 30]
    lines = []
    with backends.create("cpu", model="auto", size=160, precision="fp32", log=lines.append) as auto, \
            backends.create("cpu", model="selfie", precision="fp32", log=lines.append) as person:
        got = auto.predict_frames(torch.from_numpy(np.stack(frames)))
        want = person.predict_frames(torch.from_numpy(np.stack(frames)))
        assert "selfie" in auto.describe() and "u2netp" in auto.describe()
    assert torch.equal(got, want)
    assert any(line.startswith("u2live: --model auto -> selfie (the person model): a person") for line in lines)
