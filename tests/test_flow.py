"""The optical-flow piece on real frames (Megamind.avi): it finds a known shift, carries masks of any size and type
along it, marks uncovered and out-of-frame pixels untrusted, and tells a scene cut from ordinary motion."""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from u2live.flow import FlowEstimator

SHIFT = (6, 10)  # (dy, dx) full-resolution pixels


@pytest.fixture(scope="module")
def frames(megamind):
    """Frames 95-101 of Megamind.avi: a cut between 97 and 98, a still talking head after it."""
    with av.open(str(megamind)) as container:
        decoded = [f.to_ndarray(format="rgb24") for _, f in zip(range(102), container.decode(video=0))]
    return dict(enumerate(decoded))


def shifted(image, dy=SHIFT[0], dx=SHIFT[1]):
    """The picture moved by (dy, dx): out[y, x] = image[y - dy, x - dx], the uncovered edge repeated."""
    padded = np.pad(image, ((dy, 0), (dx, 0), (0, 0)), mode="edge")
    return padded[: image.shape[0], : image.shape[1]]


def test_finds_a_known_shift_and_carries_a_full_resolution_mask_along_it(frames):
    estimator = FlowEstimator()
    a = frames[100]
    flow = estimator.flow(a, shifted(a))
    h, w = flow.shape
    assert (h, w) == estimator.working_shape(*a.shape[:2]) == (235, 320)
    scale = w / a.shape[1]
    assert np.median(flow.backward[..., 0]) == pytest.approx(-SHIFT[1] * scale, abs=0.3)
    assert np.median(flow.backward[..., 1]) == pytest.approx(-SHIFT[0] * scale, abs=0.3)
    mask = np.zeros(a.shape[:2], np.float32)
    mask[200:300, 300:400] = 1.0
    carried = flow.warp(mask)
    assert carried.shape == mask.shape and carried.dtype == np.float32
    rows, cols = np.nonzero(carried > 0.5)
    assert abs(rows.min() - (200 + SHIFT[0])) <= 2 and abs(cols.min() - (300 + SHIFT[1])) <= 2
    assert abs(rows.max() - (299 + SHIFT[0])) <= 2 and abs(cols.max() - (399 + SHIFT[1])) <= 2
    assert not flow.scene_cut


def test_a_torch_mask_at_model_resolution_comes_back_as_torch_of_its_shape(frames):
    flow = FlowEstimator().flow(torch.from_numpy(frames[100]), torch.from_numpy(shifted(frames[100])))
    mask = torch.rand(320, 320)
    carried = flow.warp(mask)
    assert isinstance(carried, torch.Tensor) and carried.shape == (320, 320) and carried.dtype == torch.float32
    assert float((carried - mask).abs().mean()) > 0.05  # it moved: a noise mask does not survive a shift unchanged
    assert flow.resize(flow.valid, (320, 320)).shape == (320, 320)
    assert flow.change.dtype == np.uint8 and flow.resize(flow.change, (320, 320)).dtype == np.float32


def test_still_frames_hold_and_a_moved_picture_is_no_change(frames):
    flow = FlowEstimator().flow(frames[100], frames[100])
    assert np.abs(flow.backward).max() < 0.5 and flow.valid.all() and flow.change.max() < 1
    mask = np.random.default_rng(0).random((320, 320), dtype=np.float32)
    assert np.abs(flow.warp(mask) - mask).max() < 0.05
    moved = FlowEstimator().flow(frames[100], shifted(frames[100]))
    assert np.median(moved.change) < 3  # after following the motion the picture is the same


def test_uncovered_and_out_of_frame_pixels_are_not_valid(frames):
    a = frames[100].copy()
    b = a.copy()
    a[100:300, 200:400] = (255, 0, 255)  # a flat magenta card in front of the face in a, gone in b: uncovered
    flow = FlowEstimator().flow(a, shifted(b, 0, 40))  # and the whole picture slides right by 40 px
    h, w = flow.shape
    scale = w / a.shape[1]
    assert flow.valid[:, : int(30 * scale)].mean() < 0.2  # came from outside frame a
    card = flow.valid[int(150 * scale): int(250 * scale), int(270 * scale): int(420 * scale)]
    assert card.mean() < 0.5
    assert flow.valid[int(400 * scale):, int(500 * scale):].mean() > 0.8  # ordinary picture: trusted


def test_a_scene_cut_is_told_from_motion(frames):
    estimator = FlowEstimator()
    assert estimator.flow(frames[97], frames[98]).scene_cut
    assert not estimator.flow(frames[98], frames[99]).scene_cut
    assert not estimator.flow(frames[99], frames[101]).scene_cut
    assert not estimator.flow(frames[100], shifted(frames[100], 20, 30)).scene_cut


def test_prepared_grays_are_accepted_and_sizes_must_agree(frames):
    estimator = FlowEstimator(size=160)
    a, b = estimator.prepare(frames[100]), estimator.prepare(frames[101])
    assert a.shape == (117, 160) and a.dtype == np.uint8
    assert estimator.flow(a, frames[101]).shape == b.shape
    with pytest.raises(ValueError, match="different sizes"):
        estimator.flow(a, FlowEstimator(size=200).prepare(frames[101]))
