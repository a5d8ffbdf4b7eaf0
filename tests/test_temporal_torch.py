"""The temporal state in torch (the GPU's, run here on the CPU) against the host state it mirrors, on real frames
and real masks.

Stated tolerance: per frame, the mean |difference| of the held masks at most 0.001 and at most 0.5% of the pixels
apart by more than 0.05 (measured on Megamind 0-59: mean 0.00013, 99.9th percentile 0.06). The two resample
bilinearly with different rounding (OpenCV's remap in 1/32 pixel steps, grid_sample exactly), and a pixel whose
evidence sits at a commit threshold may take the other side for a while, so a few pixels differ more.
"""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from u2live import backends
from u2live.temporal import MotionSmoother
from u2live.temporal_torch import TorchMotionSmoother


@pytest.fixture(scope="module")
def clip(megamind):
    with av.open(str(megamind)) as container:
        pictures = [f.to_ndarray(format="rgb24") for _, f in zip(range(48), container.decode(video=0))]
    with backends.create("cpu", model="u2netp", size=160, precision="int8", log=lambda line: None) as model:
        masks = model.predict_frames(torch.from_numpy(np.stack(pictures))).numpy()
    return pictures, masks


def _held(smoother, pictures, masks, ahead: bool = False):
    if ahead:
        smoother.look_ahead(pictures)
    out = [np.asarray(smoother.update(torch.from_numpy(m) if isinstance(smoother, TorchMotionSmoother) else m,
                                      i / 24, image=p)).copy() for i, (p, m) in enumerate(zip(pictures, masks))]
    if hasattr(smoother, "close"):
        smoother.close()
    return out


def test_torch_state_follows_the_host_state_within_tolerance(clip):
    host = _held(MotionSmoother(), *clip)
    ours = _held(TorchMotionSmoother(), *clip)
    for i, (a, b) in enumerate(zip(host, ours)):
        diff = np.abs(a - b)
        assert diff.mean() <= 0.001 and (diff > 0.05).mean() <= 0.005, (i, diff.mean(), (diff > 0.05).mean())
    smoothed = np.mean([np.abs(b - m).mean() for b, m in zip(ours, clip[1])])
    assert smoothed > 0.001  # it holds: not just the model's masks passed through


def test_looking_ahead_changes_nothing(clip):
    assert all(np.array_equal(a, b) for a, b in zip(_held(TorchMotionSmoother(), *clip),
                                                      _held(TorchMotionSmoother(), *clip, ahead=True)))


def test_a_pts_that_goes_back_starts_afresh(clip):
    pictures, masks = clip
    smoother = TorchMotionSmoother()
    smoother.look_ahead(pictures[:3])
    for i in range(3):
        smoother.update(torch.from_numpy(masks[i]), i / 24, image=pictures[i])
    again = smoother.update(torch.from_numpy(masks[5]), 0.0, image=pictures[5])  # a seek: not looked ahead
    assert torch.equal(again, torch.from_numpy(masks[5]))
    smoother.close()
