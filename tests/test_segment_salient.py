"""Boxes, regions and highlighting of masks whose answer is known (u2live.salient)."""
import numpy as np
import pytest
from PIL import Image

from u2live.images import read_rgb
from u2live.salient import box_of, box_record, highlight, regions_of


def two_blobs():
    mask = np.zeros((100, 200), np.uint8)
    mask[10:40, 20:60] = 255  # 1200 px
    mask[50:90, 120:190] = 200  # 2800 px at saliency 200/255
    mask[0, 0] = 255  # a 1-px speck: under 0.1% of 20000 px
    return mask


def test_box_bounds_every_pixel_at_or_over_the_threshold_with_exclusive_ends_but_specks():
    mask = two_blobs()
    assert box_of(mask, 0.5) == (20, 10, 190, 90)  # the speck at (0, 0) left out
    assert box_of(mask, 0.5, min_fraction=0) == (0, 0, 190, 90)
    assert box_of(mask, 0.9) == (20, 10, 60, 40)  # the 200-valued blob is under 0.9
    assert box_of(mask, 200 / 255) == (20, 10, 190, 90)  # >=, not >
    assert box_of(mask, 201 / 255) == (20, 10, 60, 40)
    assert box_of(np.zeros((5, 5), np.uint8)) is None
    assert box_of(np.ones((5, 7), np.float32)) == (0, 0, 7, 5)


def test_regions_are_largest_first_with_area_and_mean_saliency_and_no_specks():
    regions = regions_of(two_blobs(), 0.5)
    assert [r.box for r in regions] == [(120, 50, 190, 90), (20, 10, 60, 40)]
    assert [r.area for r in regions] == [2800, 1200]
    assert regions[0].score == pytest.approx(200 / 255)
    assert regions[1].score == pytest.approx(1.0)
    assert regions_of(np.zeros((5, 5), np.uint8)) == []


def test_box_record_has_the_documented_keys():
    record = box_record("x.png", two_blobs(), 0.5)
    assert record["image"] == "x.png" and (record["width"], record["height"]) == (200, 100)
    assert record["threshold"] == 0.5 and record["box"] == [20, 10, 190, 90]
    assert record["regions"][0] == {"box": [120, 50, 190, 90], "area": 2800, "score": pytest.approx(200 / 255)}
    assert box_record("e.png", np.zeros((4, 4), np.uint8))["box"] is None


def test_highlight_keeps_the_object_and_dims_and_desaturates_the_rest(reference_dir):
    image = read_rgb(reference_dir / "test_images" / "bike.jpg")
    mask = np.asarray(Image.open(reference_dir / "u2netp_results" / "bike.png").convert("L"))
    out = highlight(image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    inside, outside = mask == 255, mask == 0
    x0, y0, x1, y1 = box_of(mask)
    core = np.zeros_like(inside)
    core[y0 + 8:y1 - 8, x0 + 8:x1 - 8] = True  # away from the drawn outline and box
    assert np.array_equal(out[inside & core], image[inside & core])
    far = outside & core
    assert out[far].mean() < 0.6 * image[far].mean()  # dimmed
    spread = lambda px: (px.max(axis=1).astype(int) - px.min(axis=1)).mean()  # noqa: E731
    assert spread(out[far]) < 0.3 * spread(image[far]) + 1  # desaturated
