"""Compositing: out = fg * a + bg * (1 - a), rounded to nearest, on real pictures and masks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from u2live.compositor import composite, matte, rgba
from u2live.images import read_rgb


@pytest.fixture(scope="module")
def real(reference_dir):
    """A reference photo, its published mask as alpha, and a second photo of the same size as background."""
    image = read_rgb(reference_dir / "test_images" / "girl.png")
    alpha = read_rgb(reference_dir / "u2netp_results" / "girl.png")[..., 0] / np.float32(255)
    other = read_rgb(reference_dir / "test_images" / "hockey.png")  # also 400x267
    return (torch.from_numpy(image.copy()), torch.from_numpy(other.copy()), torch.from_numpy(alpha))


def test_composite_matches_the_formula_rounded_to_nearest(real):
    image, background, alpha = real
    out = composite(image, background, alpha)
    a = alpha.double().numpy()[..., None]
    exact = image.double().numpy() * a + background.double().numpy() * (1 - a)
    assert out.dtype == torch.uint8 and out.shape == image.shape
    diff = np.abs(out.numpy().astype(np.float64) - np.floor(exact + 0.5))
    ties = np.abs(exact - np.floor(exact) - 0.5) < 1e-3  # float32 may land either side of an exact .5
    assert diff.max() <= 1 and not diff[~ties].any()


def test_composite_keeps_subject_and_background_exactly_where_alpha_is_sure(real):
    image, background, alpha = real
    out = composite(image, background, alpha)
    assert torch.equal(out[alpha == 1], image[alpha == 1])
    assert torch.equal(out[alpha == 0], background[alpha == 0])


def test_composite_half_alpha_rounds_half_up_and_broadcasts_a_colour():
    image = torch.full((2, 2, 3), 255, dtype=torch.uint8)
    colour = torch.tensor([0, 10, 1], dtype=torch.uint8).view(1, 1, 3)
    out = composite(image, colour, torch.full((2, 2), 0.5))
    assert out[0, 0].tolist() == [128, 133, 128]


def test_matte_and_rgba(real):
    image, _, alpha = real
    gray = matte(alpha)
    assert gray.shape == (*alpha.shape, 3) and gray.is_contiguous()
    assert torch.equal(gray[..., 0], gray[..., 2])
    expected = torch.from_numpy(np.floor(alpha.double().numpy() * 255 + 0.5).astype(np.uint8))
    assert torch.equal(gray[..., 1], expected)
    four = rgba(image, alpha)
    assert four.shape == (*alpha.shape, 4)
    assert torch.equal(four[..., :3], image) and torch.equal(four[..., 3], expected)
    assert matte(torch.tensor([[0.5, -0.1, 1.2]]))[0, :, 0].tolist() == [128, 0, 255]


@pytest.mark.gpu
def test_composite_stays_on_the_gpu(real):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: run on a GPU host to check the on-device path")
    image, background, alpha = (t.cuda() for t in real)
    out = composite(image, background, alpha)
    assert out.is_cuda and torch.equal(out.cpu(), composite(*(t.cpu() for t in real)))
