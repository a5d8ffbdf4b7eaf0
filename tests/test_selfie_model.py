"""Our MediaPipe Selfie Segmentation network against the original's own outputs, kept in tests/data/selfie.

Those PNGs are the masks MediaPipe 0.10.21's own graph (TFLite, XNNPACK, its custom op) returned for nearest-neighbour
256x256 samples of four of the authors' pictures, as 16-bit probabilities (written by benchmarks/selfie_parity.py
--save-test-data, which compares 32 pictures; benchmarks/results/selfie-parity.md).
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from conftest import damaged_copy

from u2live import selfie_model
from u2live.errors import InputError, WeightsError
from u2live.selfie_model import load_selfie

DATA = Path(__file__).parent / "data" / "selfie"
PICTURES = {"girl": "girl.png", "hockey": "hockey.png", "im_14": "im_14.png", "bike": "bike.jpg"}
# Measured against these PNGs on an AMD EPYC (Zen 4, AVX-512), torch 2.13, the four as one batch: largest pixel
# difference 9.3e-5 in torch and 1.7e-4 in ONNX Runtime, worst picture's mean 8.2e-7 (16-bit rounding included;
# against the original's float masks over 32 pictures: 1.2e-4 and 4.2e-7). The bounds leave >= 10x headroom for
# other CPUs (AVX2 kernels sum in another order) and library versions, and still see a wrong convention:
# align_corners=True or symmetric stride-2 padding move pixels by up to 1.0.
LARGEST, MEAN = 2e-3, 1e-5


def sample(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """benchmarks/selfie_parity.py's nearest-neighbour sample at pixel centres (exact integer indexing)."""
    rows = ((np.arange(height) + 0.5) * rgb.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * rgb.shape[1] / width).astype(np.int64)
    return np.ascontiguousarray(rgb[rows][:, cols])


@pytest.fixture(scope="module")
def net():
    return load_selfie()


@pytest.fixture(scope="module")
def cases(reference_dir):
    """[4, 3, 256, 256] inputs in [0, 1] and the original's [4, 256, 256] masks."""
    from u2live.images import read_rgb

    inputs = [sample(read_rgb(reference_dir / "test_images" / f), 256, 256) for f in PICTURES.values()]
    masks = [cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_UNCHANGED) for name in PICTURES]
    assert all(m is not None and m.dtype == np.uint16 and m.shape == (256, 256) for m in masks)
    x = torch.from_numpy(np.stack(inputs)).permute(0, 3, 1, 2).float() / 255.0
    return x, np.stack(masks).astype(np.float64) / 65535.0


def masks_of(net, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return net(x)[:, 0].numpy().astype(np.float64)


def test_bundled_network_equals_the_originals_outputs(net, cases):
    x, theirs = cases
    gap = np.abs(masks_of(net, x) - theirs)
    assert gap.max() <= LARGEST
    assert gap.mean(axis=(1, 2)).max() <= MEAN
    assert (theirs > 0.5).mean() > 0.05  # the pictures hold people: the masks are not all background


def test_the_comparison_sees_a_wrong_upsampling_convention(net, cases):
    x, theirs = cases
    original = torch.nn.functional.interpolate
    aligned = lambda *a, **k: original(*a, **{**k, "align_corners": True})  # noqa: E731
    with mock.patch.object(torch.nn.functional, "interpolate", aligned):
        assert np.abs(masks_of(net, x) - theirs).max() > 100 * LARGEST


def test_onnx_export_runs_in_onnx_runtime_with_the_same_output(net, cases):
    ort = pytest.importorskip("onnxruntime")
    from u2live.backends.export import onnx_bytes

    x, theirs = cases
    session = ort.InferenceSession(onnx_bytes(net, 256), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]  # exported at batch 1, run at 4
    assert got.shape == (4, 1, 256, 256)
    assert np.abs(got[:, 0] - masks_of(net, x)).max() <= LARGEST
    assert np.abs(got[:, 0] - theirs).mean(axis=(1, 2)).max() <= MEAN


@pytest.mark.parametrize("size", [(144, 256), (320, 320), (288, 512), (512, 512)])
def test_sides_that_are_multiples_of_16_run(net, size):
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 1, *size)
    assert out.dtype == torch.float32 and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_other_sides_are_refused_in_one_line(net):
    with pytest.raises(InputError, match="multiples of 16, got 250x250"):
        net(torch.rand(1, 3, 250, 250))


def test_landscape_variant_loads_and_differs(net):
    landscape = load_selfie(variant="landscape")
    assert not torch.equal(landscape.segment.weight, net.segment.weight)
    assert all(p.dtype == torch.float32 for p in landscape.parameters())
    assert not landscape.training


def test_damaged_bundled_file_is_refused(tmp_path, monkeypatch):
    damaged = damaged_copy(selfie_model.BUNDLED_SELFIE["general"], tmp_path / "selfie.pth")
    monkeypatch.setitem(selfie_model.BUNDLED_SELFIE, "general", damaged)
    with pytest.raises(WeightsError, match="damaged"):
        load_selfie()


def test_weights_that_do_not_fit_are_refused(tmp_path):
    from u2live.catalog import BUNDLED

    with pytest.raises(WeightsError, match="does not fit the selfie model"):
        load_selfie(BUNDLED["u2netp"])
    with pytest.raises(WeightsError, match="unknown selfie variant"):
        load_selfie(variant="portrait")
    with pytest.raises(WeightsError, match="not found"):
        load_selfie(tmp_path / "missing.pth")


def test_bundled_files_are_the_import_of_mediapipes_tflite():
    """Re-imports both variants from the pinned wheel (when cached, with the script-only ``tflite`` parser)."""
    pytest.importorskip("tflite")
    path = Path(__file__).resolve().parent.parent / "scripts" / "import_selfie.py"
    spec = importlib.util.spec_from_file_location("import_selfie", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if not (script.CACHE / script.WHEEL).is_file():
        pytest.skip(f"the mediapipe wheel is not cached in {script.CACHE}: run scripts/import_selfie.py")
    for variant in selfie_model.BUNDLED_SELFIE:
        bundled = torch.load(selfie_model.BUNDLED_SELFIE[variant], weights_only=True)
        assert all(v.dtype == torch.float16 for v in bundled.values())
        for key, value in script.imported(variant).state_dict().items():
            assert torch.equal(value, bundled[key].float()), (variant, key)
        digest = hashlib.sha256(selfie_model.BUNDLED_SELFIE[variant].read_bytes()).hexdigest()
        assert digest == selfie_model.SELFIE_SHA256[variant]
