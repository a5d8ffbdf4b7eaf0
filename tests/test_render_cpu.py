"""The CPU fast path (OpenCV kernels, 8-bit alpha) against the plain torch path it replaces on the CPU (the path a
GPU still takes), on the authors' reference images with their published masks.

Stated tolerances (what the fast path may differ by; measured on all 18 images: refinement mean <= 0.002, 99th
percentile <= 0.05; blurred background mean <= 0.6 levels, 99th percentile <= 5; finished picture mean <= 0.4
levels, 99th percentile <= 3):

- refined mask: mean |diff| <= 0.003, 99th percentile <= 0.06 (the guide is the 8-bit gray frame, and the working
  grid is reached by area averaging instead of antialiased bilinear);
- blurred background: mean <= 1 level of 255, 99th percentile <= 6 (weighting on a coarser grid, uint8 upsampling);
- finished picture over the blurred background: mean <= 0.5 levels, 99th percentile <= 4;
- compositing alone: exact, given the same 8-bit alpha.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from u2live import kernels_torch
from u2live.backgrounds import blur_background, parse_background
from u2live.compositor import composite
from u2live.images import read_rgb
from u2live.pipeline import Stages
from u2live.refine import refine_mask
from u2live.stats import PipelineStats

NAMES = ["girl", "boat", "horse", "im_01", "rifle1"]  # 400x267 to 1280x720, people, animals, objects


@pytest.fixture(scope="module", params=NAMES)
def case(request, reference_dir):
    """A reference image, the model-size mask (the published mask shrunk to 320x320), both refinements: the CPU's
    (numpy) and the plain torch one (as a tensor)."""
    image = read_rgb(next((reference_dir / "test_images").glob(f"{request.param}.*")))
    published = read_rgb(reference_dir / "u2netp_results" / f"{request.param}.png")[..., 0] / np.float32(255)
    mask = cv2.resize(published, (320, 320), interpolation=cv2.INTER_AREA)
    frame = np.ascontiguousarray(image)
    return frame, mask, refine_mask(mask, frame), kernels_torch.refine_mask(torch.from_numpy(mask),
                                                                            torch.from_numpy(frame.copy()))


def test_refinement_equals_the_torch_path_within_tolerance(case):
    _, _, fast, reference = case
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    assert 0.0 <= float(fast.min()) and float(fast.max()) <= 1.0
    diff = np.abs(fast - reference.numpy())
    assert diff.mean() <= 0.003 and np.percentile(diff, 99) <= 0.06, (diff.mean(), np.percentile(diff, 99))


def test_uint8_refinement_is_the_float_one_rounded(case):
    frame, mask, fast, _ = case
    eight = refine_mask(mask, frame, dtype=np.uint8)
    assert eight.dtype == np.uint8
    assert np.abs(eight.astype(int) - np.round(fast * 255).astype(int)).max() <= 1  # float32: either side of .5


def test_blurred_background_and_picture_equal_the_torch_path_within_tolerance(case):
    frame, _, fast, reference = case
    radius = max(2, round(0.025 * max(frame.shape[:2])))
    ours = blur_background(frame, fast, radius).astype(np.int16)
    tensor = torch.from_numpy(frame.copy())
    plain = kernels_torch.blur_background(tensor, reference, radius)
    diff = np.abs(ours - plain.numpy())
    assert diff.mean() <= 1.0 and np.percentile(diff, 99) <= 6, (diff.mean(), np.percentile(diff, 99))
    stages = Stages(mode="composite", background=parse_background("blur"))
    picture = stages.render(frame, case[1], 0.0, PipelineStats()).astype(np.int16)
    expected = kernels_torch.composite(tensor, plain, reference).numpy()
    diff = np.abs(picture - expected)
    assert diff.mean() <= 0.5 and np.percentile(diff, 99) <= 4, (diff.mean(), np.percentile(diff, 99))


def test_compositing_is_exact_for_an_8bit_alpha(case):
    frame, _, fast, _ = case
    a8 = np.round(fast * 255).astype(np.uint8)
    background = np.ascontiguousarray(frame[::-1])  # another picture, same size
    out = composite(frame, background, a8)
    a = a8.astype(np.float64)[..., None] / 255
    exact = np.floor(frame * a + background * (1 - a) + 0.5)
    assert np.array_equal(out, exact.astype(np.uint8))
    assert np.array_equal(composite(frame, background, a8 / np.float32(255)), out)  # a float alpha: rounded first
