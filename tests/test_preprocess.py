import numpy as np
import torch

from u2live.preprocess import MEAN, STD, normalise_minmax, to_model_input, to_model_input_tensor

IMAGES = np.random.default_rng(2).integers(0, 200, (2, 90, 120, 3), dtype=np.uint8)


def test_authors_normalisation_divides_by_the_image_max():
    flat = np.full((1, 64, 64, 3), 100, np.uint8)
    x = to_model_input(list(flat), 32)
    expected = (1.0 - MEAN) / STD  # 100 / max(100) == 1
    assert np.allclose(x[0, :, 0, 0], expected)


def test_tensor_preprocessing_matches_numpy_preprocessing():
    ours = to_model_input_tensor(torch.from_numpy(IMAGES), 64).numpy()
    reference = to_model_input(list(IMAGES), 64)
    # cv2 rounds its resize to uint8 before the float division; torch does not: under one grey level apart.
    assert np.abs(ours - reference).max() < 1.5 / 255 / 0.224


def test_minmax_per_mask():
    masks = np.stack([np.linspace(0.2, 0.4, 16).reshape(4, 4), np.full((4, 4), 0.5)]).astype(np.float32)
    out = normalise_minmax(masks)
    assert out[0].min() == 0 and np.isclose(out[0].max(), 1)
    assert np.all(out[1] == 0)  # a flat mask stays flat instead of dividing by zero
