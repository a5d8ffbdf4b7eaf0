"""Full-resolution refinement: the guided filter is He et al.'s, and on the authors' images it sharpens the
model's edges without moving away from the published masks."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from u2live import backends
from u2live.images import read_rgb
from u2live.kernels import CPU
from u2live.preprocess import normalise_minmax
from u2live.kernels_torch import box_filter, refine_mask, upsample_mask


def naive_box(x: np.ndarray, r: int) -> np.ndarray:
    """Window means over the last two axes, window clipped at the borders, written the slow obvious way."""
    out = np.empty_like(x)
    height, width = x.shape[-2:]
    for i in range(height):
        for j in range(width):
            out[..., i, j] = x[..., max(0, i - r):i + r + 1, max(0, j - r):j + r + 1].mean(axis=(-2, -1))
    return out


def naive_guided_gray(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al., Algorithm 1, in float64."""
    mean_i, mean_p = naive_box(guide, r), naive_box(p, r)
    a = (naive_box(guide * p, r) - mean_i * mean_p) / (naive_box(guide * guide, r) - mean_i ** 2 + eps)
    b = mean_p - a * mean_i
    return naive_box(a, r) * guide + naive_box(b, r)


def naive_guided_color(image: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al., the colour guide (Eq. 14): a 3x3 solve per pixel, in float64."""
    guide = image.transpose(2, 0, 1)  # [3, H, W]
    mean_i, mean_p = naive_box(guide, r), naive_box(p, r)
    cov = naive_box(guide[:, None] * guide[None], r) - mean_i[:, None] * mean_i[None]  # [3, 3, H, W]
    cov_ip = naive_box(guide * p, r) - mean_i * mean_p
    sigma = cov.transpose(2, 3, 0, 1) + eps * np.eye(3)
    a = np.linalg.solve(sigma, cov_ip.transpose(1, 2, 0)[..., None])[..., 0].transpose(2, 0, 1)
    b = mean_p - (a * mean_i).sum(axis=0)
    return (naive_box(a, r) * guide).sum(axis=0) + naive_box(b, r)


@pytest.fixture(scope="module")
def crop(reference_dir):
    """A 40x56 crop across the subject's edge of a reference photo, and the published mask there."""
    image = read_rgb(reference_dir / "test_images" / "girl.png")[150:190, 50:106]
    mask = read_rgb(reference_dir / "u2netp_results" / "girl.png")[150:190, 50:106, 0] / np.float32(255)
    return image, mask


def test_box_filter_matches_window_means():
    x = torch.rand(2, 3, 13, 9)
    for radius in (1, 3, 7, 12):
        assert np.abs(box_filter(x, radius).numpy() - naive_box(x.numpy(), radius)).max() < 1e-5


@pytest.mark.parametrize("guide", ["gray", "color"])
def test_guided_filter_is_he_et_al(crop, guide):
    """The torch path (GPUs; the reference the CPU's OpenCV path is held to in test_render_cpu.py)."""
    image, mask = crop
    assert 0.05 < mask.mean() < 0.95  # the crop holds an edge
    ours = refine_mask(torch.from_numpy(mask), torch.from_numpy(image.copy()), radius=3, eps=1e-3, guide=guide,
                       contrast=1.0)
    if guide == "gray":
        gray = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255
        expected = naive_guided_gray(gray, mask.astype(np.float64), 3, 1e-3)
    else:
        expected = naive_guided_color(image.astype(np.float64) / 255, mask.astype(np.float64), 3, 1e-3)
    assert np.abs(ours.numpy() - np.clip(expected, 0, 1)).max() < 1e-3


def test_upsample_is_opencv_bilinear():
    mask = torch.rand(40, 40)
    ours = upsample_mask(mask, 66, 90).numpy()
    # the same interpolation in two libraries' SIMD kernels: 2.2e-6 to 3.3e-6 measured with torch's default, AVX2 and
    # AVX-512 kernels (benchmarks/results/tolerances.md); 3e-5 leaves 9x that, 1/130 of one 8-bit gray level
    assert np.abs(ours - cv2.resize(mask.numpy(), (90, 66), interpolation=cv2.INTER_LINEAR)).max() < 3e-5


@pytest.fixture(scope="module")
def model_masks(reference_dir):
    """The bundled model's masks for three of the authors' images, min-max normalised as the authors do."""
    names = ["girl", "hockey", "im_14"]
    images = [read_rgb(next((reference_dir / "test_images").glob(f"{n}.*"))) for n in names]
    with backends.create("torch", size=320, log=lambda s: None) as segmenter:
        masks = [normalise_minmax(segmenter.predict([image])[0]) for image in images]
    published = [read_rgb(reference_dir / "u2netp_results" / f"{n}.png")[..., 0] / np.float32(255) for n in names]
    return list(zip(images, masks, published))


def undecided_share(mask: np.ndarray) -> float:
    return float(((mask > 0.1) & (mask < 0.9)).mean())


def alignment(mask: np.ndarray, image: np.ndarray) -> float:
    """The picture's gradient where the mask changes, relative to its mean gradient."""
    gray = image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    grad_i = np.abs(np.diff(gray, axis=1))[:-1] + np.abs(np.diff(gray, axis=0))[:, :-1]
    grad_m = np.abs(np.diff(mask, axis=1))[:-1] + np.abs(np.diff(mask, axis=0))[:, :-1]
    return float((grad_m * grad_i).sum() / grad_m.sum() / grad_i.mean())


def test_refined_masks_are_sharper_on_the_pictures_edges_and_close_to_the_published_ones(model_masks):
    # the published masks are this model's output upsampled bilinearly, so bilinear matches them almost exactly
    # (MAE ~0.001); refinement may move away from them only a little, and must be sharper and better aligned
    shares, alignments = [], []
    for image, mask, published in model_masks:
        height, width = image.shape[:2]
        bilinear = upsample_mask(torch.from_numpy(mask), height, width).numpy()
        refined = refine_mask(torch.from_numpy(mask), torch.from_numpy(image.copy()))
        assert refined.shape == (height, width) and refined.dtype == torch.float32
        assert 0.0 <= float(refined.min()) and float(refined.max()) <= 1.0
        refined = refined.numpy()
        assert np.abs(refined - published).mean() < 0.03
        shares.append(undecided_share(refined) / undecided_share(bilinear))
        alignments.append(alignment(refined, image) / alignment(bilinear, image))
    assert np.mean(shares) < 0.8 and max(shares) < 0.95, shares
    assert np.mean(alignments) > 1.1 and min(alignments) > 1.0, alignments


@pytest.mark.gpu
def test_refine_runs_on_the_gpu(crop):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: run on a GPU host to check the on-device path")
    image, mask = crop
    cpu = refine_mask(torch.from_numpy(mask), torch.from_numpy(image.copy()))
    gpu = refine_mask(torch.from_numpy(mask).cuda(), torch.from_numpy(image.copy()).cuda())
    assert gpu.is_cuda and torch.allclose(gpu.cpu(), cpu, atol=1e-4)


@pytest.mark.parametrize("guide", ["gray", "color"])
def test_a_batch_is_refined_as_each_frame_alone(reference_dir, guide):
    """The GPU refines a whole batch in one set of kernels: each frame's result is the one it gets alone."""
    names = ["girl.png", "im_01.png", "boat.jpg"]
    images = [cv2.resize(read_rgb(reference_dir / "test_images" / n), (320, 240)) for n in names]
    masks = [cv2.resize(read_rgb(reference_dir / "u2netp_results" / f"{n.rsplit('.', 1)[0]}.png")[..., 0],
                        (160, 160)) / np.float32(255) for n in names]
    frames, model = torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks))
    batch = refine_mask(model, frames, guide=guide)
    assert batch.shape == (3, 240, 320)
    for i in range(3):
        alone = refine_mask(model[i], frames[i], guide=guide)
        assert torch.allclose(batch[i], alone, atol=1e-6), float((batch[i] - alone).abs().max())
    assert not torch.allclose(batch[0], batch[1])  # three different frames
    eight = CPU.refine_batch(model.numpy(), frames.numpy())  # the CPU's path for a batch: frame by frame
    assert eight.dtype == np.uint8 and eight.shape == (3, 240, 320)
    assert np.array_equal(eight[2], CPU.refine(model[2].numpy(), frames[2].numpy()))
