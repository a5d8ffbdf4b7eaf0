"""Issue 21, class 5: a value that passes its type but means nothing is refused where it enters, in one line: by
the CLI (exit 2 for an option, 1 for a combination), by the Python API (``InputError``) and over HTTP (a 4xx JSON
body, ``Range`` headers included). Nothing is written, no server starts, nothing fails later with a foreign error.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

FAST = ("--size", "64", "--backend", "cpu")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "PYTHONPATH": str(Path.cwd())})


CLI = {  # arguments (in a folder holding clip.mp4 and photo.png), the words of the one line
    "segment --threshold nan": (["segment", "photo.png", "-d", "out", "--format", "box", "--threshold", "nan",
                                 *FAST], "'nan' is not a finite number"),
    "serve --max-upload-mb nan": (["serve", "--max-upload-mb", "nan", *FAST], "not a finite number"),
    "serve --max-upload-mb inf": (["serve", "--max-upload-mb", "inf", *FAST], "--max-upload-mb"),
    "serve --max-megapixels nan": (["serve", "--max-megapixels", "nan", *FAST], "not a finite number"),
    "serve --result-ttl nan": (["serve", "--result-ttl", "nan", *FAST], "not a finite number"),
    "serve --api-key non-ASCII": (["serve", "--api-key", "clé-secrète", *FAST], "printable ASCII"),
    "webcam --fps nan": (["webcam", "--source", "clip.mp4", "--no-vcam", "-o", "out.mp4", "--fps", "nan", *FAST],
                         "not a finite number"),
    "video --size 1024 --batch 64": (["video", "clip.mp4", "-o", "out.mp4", "--size", "1024", "--batch", "64",
                                      "--backend", "cpu"], "use a smaller --batch or --size"),
}


@pytest.mark.parametrize("case", sorted(CLI))
def test_meaningless_option_values_are_one_line(case, tmp_path, write_clip):
    from PIL import Image

    write_clip(tmp_path / "clip.mp4", frames=2)
    Image.new("RGB", (64, 48), (10, 200, 30)).save(tmp_path / "photo.png")
    args, words = CLI[case]
    result = run_cli(*args, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1 and lines[0].startswith("u2live: error: ") and words in lines[0], result.stderr
    assert "internal error" not in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "photo.png"]  # nothing written


@pytest.fixture(scope="module")
def model():
    import u2live

    with u2live.load(backend="cpu", size=64) as loaded:
        yield loaded


API = {  # a call on the loaded model (or a fresh load), the words of the InputError
    "video batch=0": (lambda m, clip, out: m.video(clip, out, batch=0), "batch must be"),
    "video max_frames=0": (lambda m, clip, out: m.video(clip, out, max_frames=0), "max_frames must be"),
    "video max_frames=-3": (lambda m, clip, out: m.video(clip, out, max_frames=-3), "max_frames must be"),
    "video bg=5": (lambda m, clip, out: m.video(clip, out, bg=5), "bg must be a string"),
    "video mode": (lambda m, clip, out: m.video(clip, out, mode="sketch"), "mode must be one of"),
    "video smoothing=5": (lambda m, clip, out: m.video(clip, out, smoothing=5), "smoothing must be"),
    "mask of an empty array": (lambda m, clip, out: m.mask(np.zeros((0, 0, 3), np.uint8)), "empty array"),
    "box threshold nan": (lambda m, clip, out: m.box(np.zeros((8, 8, 3), np.uint8), threshold=math.nan),
                          "threshold must be"),
    "cutout bg=5": (lambda m, clip, out: m.cutout(np.zeros((8, 8, 3), np.uint8), bg=5), "bg must be"),
    "load precision": (lambda m, clip, out: __import__("u2live").load(precision="fp8"), "precision must be"),
    "load backend": (lambda m, clip, out: __import__("u2live").load(backend="tpu"), "backend must be"),
    "load size as text": (lambda m, clip, out: __import__("u2live").load(size="320"), "size must be"),
    "server settings nan": (lambda m, clip, out: __import__("u2live.serve.settings", fromlist=["x"])
                            .ServeSettings(max_pixels=math.nan), "max_pixels must be"),
}


@pytest.mark.parametrize("case", sorted(API))
def test_meaningless_api_arguments_raise_input_error(case, model, tmp_path, write_clip):
    from u2live.errors import InputError

    clip, out = write_clip(tmp_path / "clip.mp4", frames=2), tmp_path / "out.mp4"
    call, words = API[case]
    with pytest.raises(InputError) as refused:
        call(model, clip, out)
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert not out.exists()


@pytest.fixture(scope="module")
def result_url(u2live_server, tmp_path_factory, write_clip):
    clip = write_clip(tmp_path_factory.mktemp("range") / "clip.mp4", frames=6)
    job = requests.post(u2live_server.url + "/v1/videos", data=clip.read_bytes(), timeout=60).json()
    deadline = time.monotonic() + 300
    while requests.get(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=10).json()["state"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    return f"{u2live_server.url}/v1/videos/{job['id']}/result"


@pytest.mark.parametrize("header, status", [
    ("bytes=abc", 400), ("items=0-10", 400), ("bytes=20-10", 400), ("bytes=", 400), ("bytes=-", 400),
    ("bytes=" + "9" * 5000 + "-", 400), ("bytes=" + ",".join(["0-1"] * 200), 400),
    ("bytes=999999999-", 416), ("bytes=-0", 416),
])
def test_bad_range_headers_are_one_line_json(result_url, header, status):
    answer = requests.get(result_url, headers={"Range": header}, timeout=30)
    assert answer.status_code == status, answer.text[:200]
    assert answer.headers["content-type"] == "application/json" and set(answer.json()) == {"error"}
    whole = requests.get(result_url, timeout=30)
    part = requests.get(result_url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[:100]  # good ranges still served
    suffix = requests.get(result_url, headers={"Range": "bytes=-999999999"}, timeout=30)
    assert suffix.status_code == 206 and suffix.content == whole.content  # a suffix beyond the file: all of it


def test_meaningless_query_values_are_4xx_json(u2live_server):
    for params in ({"format": "box", "threshold": "nan"}, {"format": "box", "threshold": "inf"}):
        answer = requests.post(u2live_server.url + "/v1/segment", params=params, data=b"x", timeout=30)
        assert answer.status_code == 422 and "threshold" in answer.json()["error"], answer.text
