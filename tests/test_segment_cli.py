"""``u2live segment`` against the authors' published U2-Net† masks, and its handling of bad input."""
import json
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
    result = run_cli("segment", *images, "--out-dir", out, "--backend", "torch", "--format", "mask,box")
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


def test_boxes_match_the_published_masks_thresholded_the_same_way(reference_dir, reference_masks):
    from u2live.salient import box_of

    images, out = reference_masks
    for image in images:
        record = json.loads((out / f"{image.stem}.json").read_text())
        theirs = np.asarray(Image.open(reference_dir / "u2netp_results" / f"{image.stem}.png").convert("L"))
        assert (record["image"], record["height"], record["width"]) == (image.name, *theirs.shape)
        assert record["threshold"] == 0.5 and record["regions"][0]["box"]
        assert np.abs(np.subtract(record["box"], box_of(theirs, 0.5))).max() <= 2, image.name


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


def test_folders_recursive_mirrored_with_every_format_apart(reference_dir, tmp_path):
    source = reference_dir / "test_images"
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name, where in [("girl.png", photos), ("im_27.png", photos / "sub")]:
        (where / name).write_bytes((source / name).read_bytes())
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = run_cli("segment", photos, "-d", out, "-r", "--format", "mask,cutout,box,highlight", "--backend", "cpu")
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["girl.cutout.png", "girl.highlight.png", "girl.json", "girl.png",
                       "sub/im_27.cutout.png", "sub/im_27.highlight.png", "sub/im_27.json", "sub/im_27.png"]
    mask = np.asarray(Image.open(out / "sub" / "im_27.png"))
    cutout = np.asarray(Image.open(out / "sub" / "im_27.cutout.png"))
    assert mask.ndim == 2 and cutout.shape == (*mask.shape, 4) and np.array_equal(cutout[:, :, 3], mask)
    assert Image.open(out / "girl.highlight.png").mode == "RGB"
    flat = run_cli("segment", photos, "-d", tmp_path / "flat", "--backend", "cpu")  # no -r: sub/ left out
    assert flat.returncode == 0 and [p.name for p in (tmp_path / "flat").iterdir()] == ["girl.png"]


def test_cutout_over_a_colour_and_the_threshold(reference_dir, tmp_path):
    image = reference_dir / "test_images" / "girl.png"
    result = run_cli("segment", image, "-d", tmp_path, "--format", "cutout,mask,box", "--bg", "color:0,255,0",
                     "--threshold", "0.9", "--backend", "cpu")
    assert result.returncode == 0, result.stderr
    picture = np.asarray(Image.open(tmp_path / "girl.cutout.png"))
    alpha = np.asarray(Image.open(tmp_path / "girl.png"))[:, :, None] / 255.0
    expected = read_rgb(image) * alpha + np.array([0, 255, 0]) * (1 - alpha)
    assert picture.shape == (*alpha.shape[:2], 3)
    assert np.abs(picture - expected).max() <= 1
    assert json.loads((tmp_path / "girl.json").read_text())["threshold"] == 0.9


@pytest.mark.parametrize("case", ["same stem twice", "output onto an input", "bg without cutout", "no overwrite"])
def test_clashes_are_refused_before_anything_is_written(reference_dir, tmp_path, case):
    photos = tmp_path / "photos"
    photos.mkdir()
    girl = (reference_dir / "test_images" / "girl.png").read_bytes()
    (photos / "girl.png").write_bytes(girl)
    if case == "same stem twice":
        (photos / "girl.jpg").write_bytes((reference_dir / "test_images" / "bike.jpg").read_bytes())
        args, pattern = [photos, "-d", tmp_path / "out"], f"{photos / 'girl.jpg'} and {photos / 'girl.png'} would both be written to"
    elif case == "output onto an input":
        args, pattern = [photos, "-d", photos], f"output {photos / 'girl.png'} is the input image ({photos / 'girl.png'})"
    elif case == "bg without cutout":
        args, pattern = [photos, "-d", tmp_path / "out", "--bg", "#00ff00"], "--bg applies to --format cutout"
    else:
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "girl.json").write_text("{}")
        args = [photos, "-d", tmp_path / "out", "--format", "mask,box", "-n"]
        pattern = f"{tmp_path / 'out' / 'girl.json'} exists; not replacing it (--no-overwrite)"
    before = sorted(tmp_path.rglob("*"))
    _one_line_error(run_cli("segment", *args), pattern)
    assert sorted(tmp_path.rglob("*")) == before
    assert (photos / "girl.png").read_bytes() == girl


def test_bad_format_and_empty_folder_are_one_line(tmp_path):
    _one_line_error(run_cli("segment", tmp_path, "-d", tmp_path / "o", "--format", "mask,svg"), "mask,svg")
    _one_line_error(run_cli("segment", tmp_path, "-d", tmp_path / "o"), f"no images in folder {tmp_path}")
