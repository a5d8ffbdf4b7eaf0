"""Compositing: out = fg * a + bg * (1 - a), rounded to nearest, on real pictures and masks, in both stage-kernel
implementations: the CPU's (numpy, OpenCV's integer kernels) and the GPU's (torch, here on CPU tensors)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from u2live import compositor, kernels_torch
from u2live.images import read_rgb

#: name -> (module with composite/matte/rgba, numpy -> its array type)
KERNELS = {"cpu": (compositor, np.asarray), "torch": (kernels_torch, lambda a: torch.from_numpy(np.array(a)))}


@pytest.fixture(scope="module")
def real(reference_dir):
    """A reference photo, its published mask as alpha, and a second photo of the same size as background."""
    image = read_rgb(reference_dir / "test_images" / "girl.png")
    alpha = read_rgb(reference_dir / "u2netp_results" / "girl.png")[..., 0] / np.float32(255)
    other = read_rgb(reference_dir / "test_images" / "hockey.png")  # also 400x267
    return image, other, alpha


def as_numpy(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else x


@pytest.mark.parametrize("kind", KERNELS)
def test_composite_matches_the_formula_rounded_to_nearest(real, kind):
    module, array = KERNELS[kind]
    image, background, alpha = real
    out = as_numpy(module.composite(*map(array, real)))
    a = alpha.astype(np.float64)[..., None]
    exact = image * a + background * (1 - a)
    assert out.dtype == np.uint8 and out.shape == image.shape
    diff = np.abs(out.astype(np.float64) - np.floor(exact + 0.5))
    ties = np.abs(exact - np.floor(exact) - 0.5) < 1e-3  # float32 may land either side of an exact .5
    assert diff.max() <= 1 and not diff[~ties].any()


@pytest.mark.parametrize("kind", KERNELS)
def test_composite_keeps_subject_and_background_exactly_where_alpha_is_sure(real, kind):
    module, array = KERNELS[kind]
    image, background, alpha = real
    out = as_numpy(module.composite(*map(array, real)))
    assert np.array_equal(out[alpha == 1], image[alpha == 1])
    assert np.array_equal(out[alpha == 0], background[alpha == 0])


@pytest.mark.parametrize("kind", KERNELS)
def test_composite_half_alpha_rounds_half_up_and_broadcasts_a_colour(kind):
    module, array = KERNELS[kind]
    image = np.full((2, 2, 3), 255, dtype=np.uint8)
    colour = np.array([0, 10, 1], dtype=np.uint8).reshape(1, 1, 3)
    out = as_numpy(module.composite(array(image), array(colour), array(np.full((2, 2), 0.5, np.float32))))
    assert out[0, 0].tolist() == [128, 133, 128]


@pytest.mark.parametrize("kind", KERNELS)
def test_matte_and_rgba(real, kind):
    module, array = KERNELS[kind]
    image, _, alpha = real
    gray = as_numpy(module.matte(array(alpha)))
    assert gray.shape == (*alpha.shape, 3) and gray.flags.c_contiguous
    assert np.array_equal(gray[..., 0], gray[..., 2])
    expected = np.floor(alpha.astype(np.float64) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(gray[..., 1], expected)
    four = as_numpy(module.rgba(array(image), array(alpha)))
    assert four.shape == (*alpha.shape, 4)
    assert np.array_equal(four[..., :3], image) and np.array_equal(four[..., 3], expected)
    edges = as_numpy(module.matte(array(np.float32([[0.5, -0.1, 1.2]]))))
    assert edges[0, :, 0].tolist() == [128, 0, 255]


@pytest.mark.gpu
def test_composite_stays_on_the_gpu(real):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: run on a GPU host to check the on-device path")
    tensors = [torch.from_numpy(np.array(x)) for x in real]
    out = kernels_torch.composite(*(t.cuda() for t in tensors))
    assert out.is_cuda and torch.equal(out.cpu(), kernels_torch.composite(*tensors))
