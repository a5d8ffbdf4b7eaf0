"""The web page of ``u2live serve`` in a real browser: Debian's chromium driven by Playwright for Python.

Playwright's own browser download is not reachable here, so the system browser is launched by its path
(``apt-get install chromium``; ``.ci/run`` installs it). A screenshot of each state goes to ``$U2LIVE_SCREENSHOTS``
(default: the test's temporary folder) to be looked at.
"""
import io
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is missing: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, u2live_server):
    context = browser.new_context(viewport={"width": 1200, "height": 1000}, accept_downloads=True)
    tab = context.new_page()
    problems = []
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.goto(u2live_server.url + "/")
    tab.wait_for_function("document.getElementById('model').textContent.startsWith('model: cpu u2netp')")
    yield tab
    context.close()
    assert not problems, problems  # no JavaScript error on the page


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("U2LIVE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return lambda tab, name: tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_an_image_and_its_results_side_by_side(page, shots, reference_dir, u2live_server, tmp_path):
    image = reference_dir / "test_images" / "girl.png"
    assert not any(page.is_visible(f"#{name}") for name in ("original", "result", "box-canvas", "image-download"))
    page.set_input_files("#image-file", str(image))
    page.wait_for_function("document.getElementById('result').dataset.loaded === '1'", timeout=60_000)
    size = page.evaluate("[document.getElementById('result').naturalWidth, "
                         "document.getElementById('original').naturalWidth]")
    assert size == [Image.open(image).width] * 2
    shots(page, "1-image-mask")

    page.check("input[value=cutout]")
    page.wait_for_function("document.getElementById('result-caption').textContent === 'cutout' && "
                           "document.getElementById('result').dataset.loaded === '1'", timeout=60_000)
    shots(page, "2-image-cutout")
    with page.expect_download() as download:
        page.click("#image-download")
    saved = tmp_path / "download.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "girl-cutout.png"
    direct = requests.post(u2live_server.url + "/v1/segment", params={"format": "cutout"},
                           data=image.read_bytes(), timeout=60)
    assert np.array_equal(np.asarray(Image.open(saved)), np.asarray(Image.open(io.BytesIO(direct.content))))

    page.check("input[value=highlight]")
    page.wait_for_function("document.getElementById('result-caption').textContent === 'highlight' && "
                           "document.getElementById('result').dataset.loaded === '1'", timeout=60_000)
    shots(page, "3-image-highlight")

    page.check("input[value=box]")
    page.wait_for_function("document.getElementById('result-caption').textContent === 'box'", timeout=60_000)
    assert page.is_visible("#box-canvas") and not page.is_visible("#result")
    drawn = page.evaluate("JSON.parse(document.getElementById('box-canvas').dataset.box)")
    box = requests.post(u2live_server.url + "/v1/segment", params={"format": "box"}, data=image.read_bytes(),
                        timeout=60).json()
    assert drawn == box["box"] and len(drawn) == 4
    shots(page, "4-image-box")


def short_clip(media_dir_or_none, path: Path, write_clip) -> Path:
    """48 frames of Megamind at half size (a face to look at), else a generated clip."""
    if media_dir_or_none is None:
        return write_clip(path, frames=48, fps=24, size=(180, 132))
    with av.open(str(media_dir_or_none / "Megamind.avi")) as source, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 360, 264, "yuv420p"
        for i, frame in enumerate(source.decode(video=0)):
            if i == 48:
                break
            picture = frame.to_ndarray(format="rgb24", width=360, height=264)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode(None))
    return path


@pytest.fixture
def optional_media(request):
    try:
        return request.getfixturevalue("media_dir")
    except pytest.skip.Exception:
        return None


def test_a_video_job_runs_to_a_playing_result(page, shots, tmp_path, write_clip, optional_media):
    clip = short_clip(optional_media, tmp_path / "clip.mp4", write_clip)
    assert not any(page.is_visible(f"#{name}") for name in ("video", "video-progress", "video-download"))
    assert not page.is_visible("#video-color")  # the colour picker shows only for a colour background
    page.select_option("#video-bg", "color")
    assert page.is_visible("#video-color")
    page.set_input_files("#video-file", str(clip))
    page.wait_for_function("document.getElementById('video-progress').value > 0", timeout=120_000)
    shots(page, "5-video-progress")
    page.wait_for_function("document.getElementById('video').src !== ''", timeout=300_000)
    progress = page.evaluate("[document.getElementById('video-progress').value, "
                             "document.getElementById('video-progress').max]")
    assert progress == [48, 48]
    shots(page, "6-video-finished")
    page.evaluate("document.getElementById('video').play()")
    page.wait_for_function("document.getElementById('video').currentTime > 0.5", timeout=30_000)
    state = page.evaluate("(() => { const v = document.getElementById('video');"
                          " return {ready: v.readyState, width: v.videoWidth, error: v.error}; })()")
    assert state["ready"] >= 2 and state["width"] > 0 and state["error"] is None
    shots(page, "7-video-playing")
    assert "done: 48 frames" in page.inner_text("#video-status")
