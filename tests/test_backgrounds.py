"""Backgrounds: parsing, cover-fit, looping video, colour, and a blur without a halo of the subject."""
from __future__ import annotations

import subprocess
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from u2live.backgrounds import (BlurBackground, ImageBackground, VideoBackground, cover_fit,
                                parse_background)
from u2live.errors import InputError
from u2live.images import read_rgb
from u2live.kernels import CPU, kernels_for
from u2live.options import BACKGROUND_HELP


def blank(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 3), dtype=np.uint8)


def test_parse_keywords_and_colours():
    assert parse_background("blur").kind == "blur" and parse_background("blur").radius is None
    assert parse_background("blur:15").radius == 15
    assert parse_background("color:0,128,255").color == (0, 128, 255)
    assert parse_background("#FF8000").color == (255, 128, 0)
    assert parse_background("transparent").transparent
    assert not parse_background("blur").transparent
    assert "transparent" in BACKGROUND_HELP and "blur:RADIUS" in BACKGROUND_HELP


@pytest.mark.parametrize("spec", ["color:0,0,256", "color:1,2", "color:-1,0,0", "color:a,b,c", "blur:0",
                                  "blur:x", "#12345", "no/such/picture.jpg"])
def test_parse_rejects_with_one_line(spec):
    with pytest.raises(InputError) as info:
        parse_background(spec)
    assert "\n" not in str(info.value) and spec.split(":")[-1] in str(info.value)


@pytest.mark.parametrize("spec", ["#12345", "#GGHHII", "#FF80001"])
def test_bad_hex_colour_says_colour_not_missing_file(spec):
    with pytest.raises(InputError, match="#RRGGBB expects six hexadecimal digits"):
        parse_background(spec)


def test_parse_probes_files(media_dir, tmp_path):
    assert parse_background(str(media_dir / "baboon.jpg")).kind == "image"
    assert parse_background(str(media_dir / "tree.avi")).kind == "video"
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    for bad in (text, tmp_path):
        with pytest.raises(InputError, match="--bg"):
            parse_background(str(bad))


def test_cover_fit_geometry():
    assert cover_fit(1280, 720, 720, 528) == (939, 528, 109, 0)
    assert cover_fit(512, 512, 720, 528) == (720, 720, 0, 96)
    assert cover_fit(100, 50, 100, 50) == (100, 50, 0, 0)


@pytest.mark.parametrize("size", [(200, 90), (90, 200), (160, 160)])
def test_image_background_is_cover_fitted_never_stretched(tmp_path, size):
    # a circle on a wide picture: after fitting to any frame shape it must still be a circle
    picture = Image.new("RGB", (400, 240), (255, 255, 255))
    ImageDraw.Draw(picture).ellipse((170, 90, 230, 150), fill=(0, 0, 0))
    path = tmp_path / "circle.png"
    picture.save(path)
    width, height = size
    plane = parse_background(str(path)).open(width, height).render(blank(height, width), None, 0.0)
    assert plane.shape == (height, width, 3) and plane.dtype == np.uint8
    rows, cols = np.nonzero(plane[..., 0] < 128)
    scale = max(width / 400, height / 240)
    assert abs(np.ptp(rows) - np.ptp(cols)) <= 2  # still round
    assert abs(np.ptp(rows) + 1 - 60 * scale) <= 2  # scaled to cover, not to fit inside
    assert abs(rows.mean() - (height - 1) / 2) <= 1 and abs(cols.mean() - (width - 1) / 2) <= 1  # centred crop


def test_image_background_is_fitted_once_and_refitted_on_a_new_size(media_dir):
    background = parse_background(str(media_dir / "baboon.jpg")).open(72, 52)
    assert isinstance(background, ImageBackground)
    first = background.render(blank(52, 72), None, 0.0)
    assert background.render(blank(52, 72), None, 0.04) is first
    assert background.render(blank(30, 40), None, 0.08).shape == (30, 40, 3)


def test_colour_background():
    plane = parse_background("#102030").open(8, 6).render(blank(6, 8), None, 0.0)
    assert plane.shape == (6, 8, 3) and plane[5, 7].tolist() == [16, 32, 48]


@pytest.fixture(scope="module")
def levels_clip(tmp_path_factory):
    """5 flat gray frames at 10 fps, levels 20, 60, 100, 140, 180 (an encoded clip, read back by PyAV)."""
    path = tmp_path_factory.mktemp("bg") / "levels.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        stream.options = {"qscale": "1"}
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 + 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def level(background, pts: float) -> int:
    plane = background.render(blank(40, 40), None, pts)
    assert plane.shape == (40, 40, 3)
    return round(float(plane.mean()))


def test_video_background_loops_with_time(levels_clip):
    background = parse_background(str(levels_clip)).open(40, 40)
    assert isinstance(background, VideoBackground)
    with background:
        # 1.2 s at 20 fps from an arbitrary start, sampled mid-way between clip frames so rounding cannot decide
        seen = [level(background, 3.0 + (0.025 if t else 0.0) + t / 20) for t in range(24)]
    expected = [20 + 40 * ((t // 2) % 5) for t in range(24)]  # each clip frame twice, wrapping after 0.5 s
    assert np.abs(np.array(seen) - expected).max() <= 3, seen


def test_video_background_restarts_when_pts_goes_back(levels_clip):
    with parse_background(str(levels_clip)).open(40, 40) as background:
        assert [abs(level(background, t) - want) <= 3 for t, want in [(0.0, 20), (0.31, 140), (0.1, 20)]] == [
            True] * 3


def test_a_truncated_background_clip_is_said_once_and_its_frames_loop(write_clip, tmp_path, caplog):
    """The index (moov up front) promises 48 frames, the data ends after about half: one warning line, not silence."""
    clip = write_clip(tmp_path / "clip.mp4", frames=48, audio=False, size=(160, 120))
    front = tmp_path / "front.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(front)],
                   check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(front.read_bytes()[:front.stat().st_size // 2])
    for path, warned in [(clip, False), (cut, True)]:
        with parse_background(str(path)).open(40, 40) as background:
            for t in range(60):
                background.render(blank(40, 40), None, t / 12)  # 5 s: past the end of the clip at least once
        said = [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "u2live"]
        caplog.clear()
        assert len(said) == warned and all(level == "WARNING" and "truncated?" in text for level, text in said), said


def test_blur_has_no_halo_of_the_subject(reference_dir, media_dir):
    """A magenta subject shaped by a real mask over a real photo: beside it the blurred background must keep the
    photo's colours (as if the subject were not there), where a plain blur smears magenta into it."""
    alpha = read_rgb(reference_dir / "u2netp_results" / "girl.png")[..., 0] / np.float32(255)
    height, width = alpha.shape
    clean = np.array(Image.fromarray(read_rgb(media_dir / "building.jpg")).resize((width, height)))
    frame = np.floor(np.float32([255, 0, 255]) * alpha[..., None] + clean * (1 - alpha[..., None]) + 0.5)
    frame, none = frame.astype(np.uint8), np.zeros_like(alpha)
    radius = 12
    blur = BlurBackground(radius, CPU)
    ours, plain, ideal = (blur.render(img, a, 0.0).astype(np.float32)
                          for img, a in [(frame, alpha), (frame, none), (clean, none)])
    subject = (alpha > 0.02).astype(np.uint8)
    beside = (cv2.dilate(subject, np.ones((2 * radius + 1,) * 2, np.uint8)) > 0) & (alpha < 0.02)
    magenta = lambda x: (x[..., 0] + x[..., 2]) / 2 - x[..., 1]  # noqa: E731
    ours_excess = (magenta(ours) - magenta(ideal))[beside].mean()
    plain_excess = (magenta(plain) - magenta(ideal))[beside].mean()
    assert plain_excess > 15  # the test can see a halo
    assert abs(ours_excess) < 2, (ours_excess, plain_excess)


def test_blur_default_radius_scales_and_shape(media_dir):
    image = read_rgb(media_dir / "baboon.jpg")
    out = parse_background("blur").open(512, 512).render(image, np.zeros((512, 512), np.float32), 0.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    # blurred: far less fine detail than the photo
    detail = lambda x: np.abs(np.diff(x.astype(np.float32), axis=1)).mean()  # noqa: E731
    assert detail(out) < 0.25 * detail(image)


@pytest.mark.gpu
def test_backgrounds_render_on_the_gpu(media_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here: run on a GPU host to check the on-device path")
    image = torch.from_numpy(read_rgb(media_dir / "baboon.jpg").copy()).cuda()
    alpha = torch.rand(512, 512, device="cuda")
    for spec in ("blur", "#102030", str(media_dir / "baboon.jpg"), str(media_dir / "tree.avi")):
        with parse_background(spec).open(512, 512, kernels_for("cuda")) as background:
            assert background.render(image, alpha, 0.0).is_cuda
