"""The Python API, through its public names only (``u2live.load``, ``u2live.Model``, ``u2live.remove``)."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import u2live


@pytest.fixture(scope="module")
def model():
    with u2live.load(backend="cpu") as loaded:
        yield loaded


@pytest.fixture(scope="module")
def girl(reference_dir):
    return reference_dir / "test_images" / "girl.png"


def test_import_and_help_load_no_torch():
    code = ("import sys, u2live; assert 'torch' not in sys.modules and 'numpy' not in sys.modules; "
            "assert callable(u2live.load) and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_help_loads_no_command_module_and_every_listed_command_is_real():
    code = ("import sys; sys.argv = ['u2live', '--help']; from u2live.cli import main; main(); "
            "assert 'torch' not in sys.modules and not any(m.startswith('u2live.commands.') for m in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from u2live.cli import COMMANDS, main

    assert all(f"  {name} " in result.stdout for name in COMMANDS)
    import click

    ctx = click.Context(main)
    assert all(main.get_command(ctx, name).name == name for name in COMMANDS)


def test_segment_on_the_cpu_backend_runs_without_torch(girl, tmp_path):
    """The first run may export the graph (torch); the next finds it without torch (u2live.backends.graph_index)."""
    code = ("import sys; sys.argv = ['u2live', 'segment', sys.argv[1], '-d', sys.argv[2], '--format', "
            "'cutout,box', '-q']; from u2live.cli import main; main(); print('torch' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code, str(girl), str(tmp_path / str(i))], capture_output=True,
                           text=True, timeout=600) for i in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[-1].stderr
    assert runs[1].stdout.strip() == "False"
    assert (tmp_path / "1" / "girl.png").is_file() and (tmp_path / "1" / "girl.json").is_file()


def test_mask_of_every_kind_of_image_is_the_same(model, girl, reference_dir):
    from_path = model.mask(girl)
    assert from_path.dtype == np.uint8 and from_path.shape == (267, 400)
    rgb = np.asarray(Image.open(girl).convert("RGB"))
    assert np.array_equal(model.mask(Image.open(girl)), from_path)
    assert np.array_equal(model.mask(rgb), from_path)
    assert np.array_equal(model.mask(str(girl)), from_path)
    theirs = np.asarray(Image.open(reference_dir / "u2netp_results" / "girl.png").convert("L"))
    assert np.abs(from_path / 255.0 - theirs / 255.0).mean() < 0.01  # the authors' published mask


def test_cutout_keeps_true_colour_with_straight_alpha_or_composites(model, girl):
    mask, rgb = model.mask(girl), np.asarray(Image.open(girl).convert("RGB"))
    cutout = model.cutout(girl)
    assert cutout.shape == (267, 400, 4)
    assert np.array_equal(cutout[:, :, :3], rgb) and np.array_equal(cutout[:, :, 3], mask)
    green = model.cutout(girl, bg="#00ff00")
    alpha = mask[:, :, None] / 255.0
    assert green.shape == (267, 400, 3)
    assert np.abs(green - (rgb * alpha + np.array([0, 255, 0]) * (1 - alpha))).max() <= 1


def test_box_and_highlight(model, girl):
    record = model.box(girl, name="girl.png")
    assert record["image"] == "girl.png" and (record["width"], record["height"]) == (400, 267)
    x0, y0, x1, y1 = record["box"]
    assert 0 <= x0 < x1 <= 400 and 0 <= y0 < y1 <= 267
    assert record["regions"][0]["area"] > 0.1 * 400 * 267
    assert model.box(girl, threshold=0.99)["box"] != record["box"]
    picture = model.highlight(girl)
    assert picture.shape == (267, 400, 3) and picture.dtype == np.uint8


def test_remove_reuses_one_model(girl):
    first, second = u2live.remove(girl), u2live.remove(np.asarray(Image.open(girl).convert("RGB")))
    assert first.shape == (267, 400, 4) and np.array_equal(first, second)


def test_bad_images_raise_the_documented_error(model, tmp_path):
    (tmp_path / "text.jpg").write_text("hello")
    for bad, pattern in [(tmp_path / "text.jpg", "not a readable image"), (tmp_path / "none.png", "not found"),
                         (np.zeros((4, 4, 3), np.float32), "uint8"), (np.zeros((4, 4, 2), np.uint8), "shape"),
                         (42, "expected an image path")]:
        with pytest.raises(ValueError, match=pattern):  # u2live's InputError is also a ValueError
            model.mask(bad)


def test_video_runs_what_u2live_video_runs_with_the_cli_options(tmp_path, write_clip):
    """Model.video runs the network and precision `u2live video` runs by default (--model auto, INT8 on the CPU)
    while still images stay U2-Net† at FP32, as `u2live segment`; the whole clip with the CLI's options."""
    import av

    clip = write_clip(tmp_path / "in.mp4", frames=6, size=(96, 64))
    with u2live.load(backend="cpu", size=64) as model:
        stats = model.video(clip, tmp_path / "out.mp4", bg="color:0,0,255", smoothing="none")
        video = model.video_segmenter()
        assert (model.segmenter.model, model.segmenter.precision) == ("u2netp", "fp32")
        assert video.describe().startswith("auto: ") and video.precision == "int8" and stats.backend.startswith("auto")
        assert model.video_segmenter() is video  # loaded once
        assert model.video(clip, tmp_path / "matte.mp4", mode="matte", max_frames=3).frames == 3
        with pytest.raises(ValueError, match="nothing to write to"):
            model.video(clip)
    assert stats.frames == 6
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (96, 64)
    with u2live.load(backend="cpu", size=64, precision="fp32", model="u2netp") as exact:
        assert exact.video_segmenter() is exact.segmenter  # an explicit model and precision hold for video too
