"""``u2live serve`` on a real uvicorn server on loopback: every endpoint, every bad input, results equal to the CLI's,
a video job from upload to a playable result with every frame and the audio."""
import io
import json
import subprocess
import sys
import time

import av
import numpy as np
import pytest
import requests
from PIL import Image

from conftest import SERVER_MODEL_ARGS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def girl(reference_dir):
    return reference_dir / "test_images" / "girl.png"


CLI_OUTPUTS = {"mask": "{stem}.png", "cutout": "{stem}.png", "box": "{stem}.json",
               "highlight": "{stem}.highlight.png"}


def cli_result(image, tmp_path, fmt, *extra):
    """What ``u2live segment --format FMT`` writes for ``image`` (FMT one format, or a comma list: the first)."""
    result = subprocess.run([sys.executable, "-m", "u2live", "segment", str(image), "--out-dir", str(tmp_path),
                             "--format", fmt, "--quiet", *SERVER_MODEL_ARGS, *extra],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return tmp_path / CLI_OUTPUTS[fmt.split(",")[0]].format(stem=image.stem)


def assert_healthy(server):
    assert requests.get(server.url + "/health", timeout=10).json() == {"status": "ok"}


def test_health_ready_docs_and_page(u2live_server):
    assert_healthy(u2live_server)
    ready = requests.get(u2live_server.url + "/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["model"].startswith("cpu u2netp fp32 192x192")
    schema = requests.get(u2live_server.url + "/openapi.json", timeout=10).json()
    assert {"/v1/segment", "/v1/videos", "/v1/videos/{job_id}", "/v1/videos/{job_id}/result", "/health",
            "/ready"} <= set(schema["paths"])
    assert "swagger-ui" in requests.get(u2live_server.url + "/docs", timeout=10).text
    page = requests.get(u2live_server.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("fmt", ["mask", "cutout"])
@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_segment_equals_the_cli(u2live_server, girl, tmp_path, fmt, how):
    body = {"files": {"file": ("../../etc/passwd", girl.read_bytes())}} if how == "multipart" else \
        {"data": girl.read_bytes(), "headers": {"content-type": "image/png"}}
    answer = requests.post(u2live_server.url + "/v1/segment", params={"format": fmt}, timeout=120, **body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    ours = Image.open(io.BytesIO(answer.content))
    theirs = Image.open(cli_result(girl, tmp_path, fmt))
    assert ours.mode == theirs.mode and ours.size == theirs.size
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("bg", ["color:0,177,64", "#3366cc", "blur", "transparent"])
def test_cutout_over_a_background_equals_the_cli(u2live_server, girl, tmp_path, bg):
    answer = requests.post(u2live_server.url + "/v1/segment", params={"format": "cutout", "bg": bg},
                           data=girl.read_bytes(), timeout=120)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", answer.text
    ours = Image.open(io.BytesIO(answer.content))
    theirs = Image.open(cli_result(girl, tmp_path, "cutout", "--bg", bg))
    assert ours.mode == theirs.mode == ("RGBA" if bg == "transparent" else "RGB")
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_box_and_highlight_equal_the_cli(u2live_server, girl, tmp_path):
    box = cli_result(girl, tmp_path, "box,highlight", "--threshold", "0.6")
    answer = requests.post(u2live_server.url + "/v1/segment", params={"format": "box", "threshold": "0.6"},
                           files={"file": ("../../secret/girl.png", girl.read_bytes())}, timeout=120)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json", answer.text
    record = answer.json()
    assert record == json.loads(box.read_text())  # the client's name, as its base name only
    width, height = Image.open(girl).size
    x0, y0, x1, y1 = record["box"]
    assert (record["width"], record["height"]) == (width, height) and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    raw = requests.post(u2live_server.url + "/v1/segment", params={"format": "box"}, data=girl.read_bytes(),
                        timeout=120)
    assert raw.json()["image"] == "upload"

    answer = requests.post(u2live_server.url + "/v1/segment", params={"format": "highlight", "threshold": "0.6"},
                           data=girl.read_bytes(), timeout=120)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", answer.text
    theirs = Image.open(tmp_path / "girl.highlight.png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(answer.content))), np.asarray(theirs))


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG")  # 400 Mpx in ~0.4 MB
    return buffer.getvalue()


BAD_INPUTS = [
    ("not an image", {"data": b"hello, not an image" * 100}, {}, 400, "not a readable image"),
    ("truncated image", "truncated", {}, 400, "could not be decoded"),
    ("empty body", {"data": b""}, {}, 400, "has no file"),
    ("empty multipart field", {"files": {"file": ("a.png", b"")}}, {}, 400, "has no file"),
    ("another form field", {"files": {"image": ("a.png", b"x")}}, {}, 422, "unknown form field 'image'"),
    ("over the upload limit", {"data": b"\0" * (3 * 1024 * 1024)}, {}, 413, "limit of 2 MiB"),
    ("decompression bomb", "bomb", {}, 413, "20000x20000"),
    ("unknown parameter", "image", {"colour": "red"}, 422, "unknown parameter 'colour'"),
    ("unknown format", "image", {"format": "jpeg"}, 422, "format: Input should be"),
    ("threshold out of range", "image", {"format": "box", "threshold": "2"}, 422, "threshold"),
    ("bg that names a file", "image", {"format": "cutout", "bg": "/etc/passwd"}, 422, "reads no files"),
    ("bg that is a URL", "image", {"format": "cutout", "bg": "http://169.254.169.254/x.jpg"}, 422, "no URLs"),
    ("bg that looks like a colour file", "image", {"format": "cutout", "bg": "#/etc/passwd"}, 422, "reads no"),
    ("bg that is no colour", "image", {"format": "cutout", "bg": "color:300,0,0"}, 422, "bg:"),
    ("bg for a mask", "image", {"format": "mask", "bg": "color:0,0,0"}, 422, "bg applies to format=cutout"),
    ("a url parameter", "image", {"url": "http://127.0.0.1:1/"}, 422, "unknown parameter 'url'"),
]


@pytest.mark.parametrize("case, body, params, status, words", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_json_and_the_server_keeps_serving(u2live_server, girl, case, body, params, status,
                                                                 words):
    if body == "bomb":
        body = {"data": _bomb()}
    elif body == "truncated":
        body = {"data": girl.read_bytes()[:2000]}
    elif body == "image":
        body = {"data": girl.read_bytes()}
    answer = requests.post(u2live_server.url + "/v1/segment", params=params, timeout=60, **body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error and "\n" not in error and "Traceback" not in error
    assert_healthy(u2live_server)


@pytest.mark.parametrize("path", ["/v1/segment", "/v1/videos"])
def test_a_chunked_upload_over_the_limit_is_cut_off(u2live_server, path):
    """No Content-Length to refuse up front: the body is counted as it arrives and refused past 2 MiB."""
    chunks = (b"\0" * 65536 for _ in range(64))  # 4 MiB, sent with Transfer-Encoding: chunked
    answer = requests.post(u2live_server.url + path, data=chunks, timeout=60)
    assert answer.status_code == 413 and "limit of 2 MiB" in answer.json()["error"], answer.text
    assert_healthy(u2live_server)
    assert not [p for p in u2live_server.tmp.rglob("input") if p.stat().st_size > 2 * 1024 * 1024]


@pytest.mark.parametrize("method, path, status", [
    ("get", "/v1/videos/nosuchjob", 404), ("get", "/v1/videos/nosuchjob/result", 404),
    ("delete", "/v1/videos/nosuchjob", 404), ("get", "/v1/nothing-here", 404), ("put", "/v1/segment", 405),
])
def test_unknown_jobs_and_routes(u2live_server, method, path, status):
    answer = requests.request(method, u2live_server.url + path, timeout=10)
    assert answer.status_code == status
    assert set(answer.json()) == {"error"}
    assert_healthy(u2live_server)


@pytest.mark.parametrize("params, status, words", [
    ({"bg": "beach.jpg"}, 422, "reads no files"), ({"mode": "sketch"}, 422, "mode"),
    ({"max_frames": "0"}, 422, "max_frames"), ({"speed": "2"}, 422, "unknown parameter 'speed'"),
    ({"bg": "color:300,0,0"}, 422, "bg:"),
])
def test_bad_video_options(u2live_server, params, status, words, tmp_path, write_clip):
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    answer = requests.post(u2live_server.url + "/v1/videos", params=params, data=clip.read_bytes(), timeout=30)
    assert answer.status_code == status and words in answer.json()["error"], answer.text


def test_a_video_upload_that_is_not_a_video(u2live_server, girl):
    answer = requests.post(u2live_server.url + "/v1/videos", files={"file": ("v.mp4", b"no video here")},
                           timeout=30)
    assert answer.status_code == 400 and "not a video" in answer.json()["error"]


def wait_for(server, job_id, states=("done", "failed", "cancelled"), timeout=300):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        status = requests.get(f"{server.url}/v1/videos/{job_id}", timeout=10).json()
        seen.append(status)
        if status["state"] in states:
            return status, seen
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not finish: {seen[-1]}")


def test_video_job_from_upload_to_a_playable_result(u2live_server, tmp_path, write_clip):
    clip = write_clip(tmp_path / "clip.mp4", frames=36, fps=12, size=(128, 96))
    answer = requests.post(u2live_server.url + "/v1/videos", params={"bg": "color:0,177,64"},
                           files={"file": ("../clip.mp4", clip.read_bytes())}, timeout=60)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["location"] == f"/v1/videos/{job['id']}"
    status, seen = wait_for(u2live_server, job["id"])
    assert status["state"] == "done", status
    assert status["frames_done"] == status["frames_total"] == 36 and status["fps"] > 0
    assert any(s["state"] == "running" for s in seen)
    assert not list(u2live_server.tmp.rglob("clip*")), "a client's file name became a path"

    result = requests.get(u2live_server.url + status["result"], timeout=60)
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert result.headers["accept-ranges"] == "bytes"
    path = tmp_path / "result.mp4"
    path.write_bytes(result.content)
    with av.open(str(path)) as container:
        assert container.streams.audio, "the audio track was lost"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio_seconds = sum(f.samples / f.sample_rate for f in container.decode(audio=0))
    assert len(frames) == 36 and frames[0].shape == (96, 128, 3)
    assert abs(audio_seconds - 3.0) < 0.1

    part = requests.get(u2live_server.url + status["result"], headers={"Range": "bytes=100-199"}, timeout=60)
    assert part.status_code == 206 and part.content == result.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(result.content)}"

    assert requests.delete(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=10).status_code == 204
    assert requests.get(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=10).status_code == 404
    assert not any(u2live_server.tmp.rglob(job["id"])), "the deleted job's files are still there"


def test_delete_cancels_a_running_job(u2live_server, tmp_path, write_clip):
    clip = write_clip(tmp_path / "long.mp4", frames=600, fps=24, size=(160, 120), audio=False)
    job = requests.post(u2live_server.url + "/v1/videos", data=clip.read_bytes(), timeout=60).json()
    status, _ = wait_for(u2live_server, job["id"], states=("running",))
    deadline = time.monotonic() + 60
    while status["frames_done"] < 2 and time.monotonic() < deadline:
        status = requests.get(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=10).json()
    assert status["eta_seconds"] is not None and status["frames_total"] == 600
    assert requests.delete(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=30).status_code == 204
    assert requests.get(f"{u2live_server.url}/v1/videos/{job['id']}", timeout=10).status_code == 404
    time.sleep(1)  # the runner notices the stop at its next frame
    assert not any(u2live_server.tmp.rglob(job["id"]))
    assert_healthy(u2live_server)


def test_results_expire_jobs_are_bounded_and_a_key_is_required(start_u2live_server, unused_port, tmp_path,
                                                               write_clip, girl):
    server = start_u2live_server(unused_port, "--result-ttl", "1", "--max-jobs", "1",
                                 env={"U2LIVE_API_KEY": "s3cret"})
    assert requests.post(server.url + "/v1/segment", data=girl.read_bytes(), timeout=30).status_code == 401
    wrong = requests.post(server.url + "/v1/segment", data=girl.read_bytes(), headers={"X-API-Key": "nope"},
                          timeout=30)
    assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
    assert requests.get(server.url + "/health", timeout=10).status_code == 200  # probes need no key
    key = {"Authorization": "Bearer s3cret"}
    assert requests.post(server.url + "/v1/segment", data=girl.read_bytes(), headers=key,
                         timeout=60).status_code == 200
    clip = write_clip(tmp_path / "clip.mp4", frames=6)
    long = write_clip(tmp_path / "long.mp4", frames=240, fps=24, size=(160, 120), audio=False)
    first = requests.post(server.url + "/v1/videos", data=long.read_bytes(), headers=key, timeout=60).json()
    busy = requests.post(server.url + "/v1/videos", data=clip.read_bytes(), headers=key, timeout=60)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "30", busy.text
    assert "1 video jobs" in busy.json()["error"]
    assert requests.delete(f"{server.url}/v1/videos/{first['id']}", headers=key, timeout=30).status_code == 204
    job = requests.post(server.url + "/v1/videos", data=clip.read_bytes(), headers=key, timeout=60).json()
    deadline = time.monotonic() + 120
    while requests.get(f"{server.url}/v1/videos/{job['id']}", headers=key, timeout=10).status_code == 200:
        assert time.monotonic() < deadline, "the finished job was never removed"
        time.sleep(0.2)
    assert not any(server.tmp.rglob(job["id"]))


def test_binding_beyond_loopback_needs_a_key():
    result = subprocess.run([sys.executable, "-m", "u2live", "serve", "--host", "0.0.0.0"], capture_output=True,
                            text=True, timeout=60, env={**__import__("os").environ, "U2LIVE_API_KEY": ""})
    assert result.returncode == 2
    assert "--api-key" in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_one_line(u2live_server):
    result = subprocess.run([sys.executable, "-m", "u2live", "serve", "--port", str(u2live_server.port)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"u2live: error: cannot listen on 127.0.0.1:{u2live_server.port}: Address already in use"]


def test_model_calls_from_many_threads_run_one_at_a_time():
    """Image requests and video jobs share one segmenter; GPU backends (CUDA graphs, TensorRT) reuse fixed buffers."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from u2live import backends
    from u2live.serve.inference import serialised

    segmenter = backends.create("cpu", size=64, log=lambda line: None)
    inside, most = [0], [0]
    guard = threading.Lock()
    real_infer = segmenter.infer

    def counting_infer(batch):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.01)
            return real_infer(batch)
        finally:
            with guard:
                inside[0] -= 1

    segmenter.infer = counting_infer
    shared = serialised(segmenter)
    image = np.full((48, 64, 3), 90, np.uint8)
    with ThreadPoolExecutor(4) as pool:
        masks = list(pool.map(lambda _: shared.predict([image]), range(12)))
    segmenter.close()
    assert most[0] == 1 and len(masks) == 12 and masks[0].shape == (1, 64, 64)


@pytest.mark.parametrize("sig, code, by", [("SIGINT", 130, "Ctrl-C (SIGINT)"), ("SIGTERM", 143, "SIGTERM")])
def test_a_signal_stops_the_server_with_one_line_that_is_not_an_error(start_u2live_server, unused_port, sig, code,
                                                                       by):
    """Ctrl-C is how a server is meant to stop: the last line says it stopped, not 'error: interrupted', and
    nothing announces a stop after uvicorn has finished one (it raised the signal again once shut down)."""
    import signal

    server = start_u2live_server(unused_port)
    server.process.send_signal(getattr(signal, sig))
    assert server.process.wait(timeout=60) == code
    log = server.log.read_text()
    assert log.strip().splitlines()[-1] == f"u2live: stopped by {by}", log[-2000:]
    assert "error" not in log.lower() and "stopping, closing outputs" not in log and "Traceback" not in log
