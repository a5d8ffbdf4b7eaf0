"""Image reading: every mode becomes HxWx3 uint8 RGB the right way up."""
import numpy as np
import pytest
from PIL import Image

from u2live.errors import InputError
from u2live.images import read_rgb

RGB = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_formats(tmp_path, ext):
    path = tmp_path / f"a.{ext}"
    Image.fromarray(RGB).save(path, quality=100) if ext != "png" else Image.fromarray(RGB).save(path)
    got = read_rgb(path)
    assert got.shape == (30, 40, 3) and got.dtype == np.uint8
    if ext == "png":
        assert np.array_equal(got, RGB)


def test_grayscale_and_rgba(tmp_path):
    Image.fromarray(RGB[:, :, 0]).save(tmp_path / "g.png")
    gray = read_rgb(tmp_path / "g.png")
    assert np.array_equal(gray[:, :, 1], RGB[:, :, 0]) and np.array_equal(gray[:, :, 2], RGB[:, :, 0])
    Image.fromarray(np.dstack([RGB, RGB[:, :, :1]]), "RGBA").save(tmp_path / "a.png")
    assert np.array_equal(read_rgb(tmp_path / "a.png"), RGB)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 30 * 40).reshape(30, 40).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    got = read_rgb(tmp_path / "g16.png")
    assert got[0, 0, 0] == 0 and got[-1, -1, 0] == 255
    assert abs(int(got[15, 20, 0]) - int(values[15, 20] / 257)) <= 1


def test_exif_orientation_is_honoured(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(RGB).save(tmp_path / "r.jpg", exif=exif, quality=100)
    assert read_rgb(tmp_path / "r.jpg").shape == (40, 30, 3)


def test_not_an_image(tmp_path):
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable image"):
        read_rgb(tmp_path / "x.png")
