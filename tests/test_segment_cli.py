"""``u2live segment`` against the authors' published U2-Net† masks, and its handling of bad input."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from u2live.images import read_rgb


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def reference_masks(reference_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("masks")
    images = sorted((reference_dir / "test_images").iterdir())
    result = run_cli("segment", *images, "--out-dir", out, "--backend", "torch")
    assert result.returncode == 0, result.stderr
    return images, out


def test_masks_match_the_authors_u2netp_results(reference_dir, reference_masks):
    images, out = reference_masks
    errors = {}
    for image in images:
        theirs = np.asarray(Image.open(reference_dir / "u2netp_results" / f"{image.stem}.png").convert("L"))
        ours = np.asarray(Image.open(out / f"{image.stem}.png"))
        assert ours.shape == theirs.shape, image.name
        errors[image.name] = np.abs(ours / 255.0 - theirs / 255.0).mean()
    assert len(errors) == 18
    assert np.mean(list(errors.values())) <= 0.010, errors
    assert max(errors.values()) <= 0.040, errors


def test_cutout_is_rgba_with_the_mask_as_alpha(reference_dir, reference_masks, tmp_path):
    image = reference_dir / "test_images" / "girl.png"
    result = run_cli("segment", image, "--out-dir", tmp_path, "--format", "cutout", "--backend", "torch")
    assert result.returncode == 0, result.stderr
    cutout = Image.open(tmp_path / "girl.png")
    assert cutout.mode == "RGBA"
    mask = np.asarray(Image.open(reference_masks[1] / "girl.png"))
    assert np.array_equal(np.asarray(cutout)[:, :, 3], mask)
    assert np.array_equal(np.asarray(cutout)[:, :, :3], read_rgb(image))


def _one_line_error(result, pattern):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("u2live: error:"), result.stderr
    assert pattern in result.stderr, result.stderr


@pytest.mark.parametrize("case, args, pattern", [
    ("missing file", ["segment", "absent.jpg", "-d", "out"], "image not found: absent.jpg"),
    ("not an image", ["segment", "text.jpg", "-d", "out"], "not a readable image"),
    ("not weights", ["segment", "img.png", "-d", "out", "--weights", "junk.pth"], "not a PyTorch weights file"),
    ("wrong shapes", ["segment", "img.png", "-d", "out", "--weights", "big.pth"], "does not fit u2netp"),
    ("unknown backend", ["segment", "img.png", "-d", "out", "--backend", "tpu"], "'tpu' is not one of"),
    ("size not multiple of 32", ["segment", "img.png", "-d", "out", "--size", "300"], "multiple of 32"),
    ("size not positive", ["segment", "img.png", "-d", "out", "--size", "-32"], "multiple of 32"),
])
def test_bad_input_is_one_line(tmp_path, case, args, pattern):
    import torch

    from u2live.model import build
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "junk.pth").write_bytes(b"\x00" * 100)
    torch.save(build("u2net").state_dict(), tmp_path / "big.pth")
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "img.png")
    _one_line_error(run_cli(*args, cwd=tmp_path), pattern)


def test_good_inputs_survive_a_bad_one(reference_dir, tmp_path):
    (tmp_path / "text.jpg").write_text("hello")
    result = run_cli("segment", tmp_path / "text.jpg", reference_dir / "test_images" / "girl.png",
                     "-d", tmp_path / "out")
    assert result.returncode == 1
    assert (tmp_path / "out" / "girl.png").is_file()
    assert "1 of 2 inputs failed" in result.stderr
