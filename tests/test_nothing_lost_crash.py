"""Issue 9: a recording killed with SIGKILL (no cleanup at all: like a power cut or the OOM killer) leaves a
playable file holding every frame up to two seconds before the kill (fragmented MP4, see u2live.sinks.file).

The CLI runs under a pseudo-terminal so its progress bar says how many frames reached the file sink; the file
left behind is the visible ``out.partial-*.mp4`` (the run never finished, so the target name is untouched).
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import av
import pytest

FPS = 24


def frames_written(text: str) -> int:
    """The progress bar's latest count: "123/480 [00:05<..." or "123frame [00:05, ..." (not the rate's digits,
    "18.46frame/s", which an earlier pattern took for the count)."""
    counts = re.findall(r"(\d+)(?:/\d+|frame) \[", text)
    return int(counts[-1]) if counts else 0


def run_until(args, cwd, enough: int, limit: float = 240.0) -> int:
    """Start the CLI on a pseudo-terminal, SIGKILL it once ``enough`` frames are written; the last count seen."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # tqdm draws nothing at width 0
    process = subprocess.Popen([sys.executable, "-m", "u2live", *map(str, args)], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=child, close_fds=True)
    os.close(child)
    text, deadline = "", time.monotonic() + limit
    try:
        while frames_written(text) < enough and time.monotonic() < deadline and process.poll() is None:
            if select.select([main], [], [], 0.2)[0]:
                text += os.read(main, 65536).decode(errors="replace")
        assert process.poll() is None, f"the run ended before it could be killed: {text[-500:]}"
        assert frames_written(text) >= enough, text[-500:]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        while select.select([main], [], [], 0.1)[0]:  # what it printed before dying
            try:
                text += os.read(main, 65536).decode(errors="replace")
            except OSError:
                break
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return frames_written(text)


def decodable_frames(path) -> int:
    """Frames a player gets out of the file, reading until the data ends."""
    count = 0
    with av.open(str(path)) as container:
        try:
            for _ in container.decode(video=0):
                count += 1
        except av.FFmpegError:
            pass  # a cut-off last fragment: what came before it counts
    return count


RECORDER = """
import sys, time
from fractions import Fraction
import numpy as np
from u2live.frame import Frame, VideoInfo
from u2live.sinks import FileSink
info = VideoInfo(width=96, height=72, fps=Fraction({fps}), frames=None, audio=None, live=True)
with FileSink(sys.argv[1], info) as sink:
    for i in range(100000):
        image = np.random.default_rng(i).integers(0, 255, (72, 96, 3), dtype=np.uint8)  # hard to compress
        sink.write(Frame(image, i / {fps}, i, time.perf_counter()))
        print(i + 1, flush=True)
        time.sleep(1 / {fps})
""".format(fps=FPS)


def test_sigkill_of_the_file_sink_keeps_all_but_the_last_two_seconds(tmp_path):
    """The file sink alone, recording in real time: fast and independent of the model's speed."""
    process = subprocess.Popen([sys.executable, "-c", RECORDER, "out.mp4"], cwd=tmp_path, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    written = 0
    for line in process.stdout:
        written = int(line)
        if written >= FPS * 5:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    partial = [p for p in tmp_path.iterdir() if p.name.startswith("out.partial-")]
    assert len(partial) == 1 and not (tmp_path / "out.mp4").exists()
    got = decodable_frames(partial[0])
    assert written - 2 * FPS <= got <= written, f"{got} frames decodable of {written} written before the kill"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["video", "webcam"])
def test_sigkill_leaves_every_frame_up_to_two_seconds_before_the_kill(command, write_clip, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", frames=FPS * 40, fps=FPS, size=(96, 72))
    args = [command, clip.name, "-o", "out.mp4", "--size", "64", "--backend", "torch", "--bg", "color:0,128,0"]
    if command == "webcam":
        args = ["webcam", "--source", clip.name, "--no-vcam", *args[2:]]
    written = run_until(args, tmp_path, enough=FPS * 4)
    assert not (tmp_path / "out.mp4").exists()
    partial = [p for p in tmp_path.iterdir() if p.name.startswith("out.partial-")]
    assert len(partial) == 1, sorted(p.name for p in tmp_path.iterdir())
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", partial[0]], capture_output=True, text=True)
    got = decodable_frames(partial[0])
    assert int(probe.stdout.strip() or 0) == got  # ffprobe plays it as well
    assert got >= written - 2 * FPS, f"{got} frames decodable of {written} written before the kill"


PLAY = """async (src) => {
  const video = document.createElement('video');
  video.muted = true;
  document.body.appendChild(video);
  const ready = new Promise((ok, fail) => {
    video.onloadeddata = ok;
    video.onerror = () => fail(video.error.message);
  });
  video.src = src;
  await ready;
  const end = video.duration - 0.05;
  const seeked = new Promise((ok) => { video.onseeked = ok; });
  video.currentTime = end;
  await seeked;
  await video.play();
  return {duration: video.duration, width: video.videoWidth, time: video.currentTime};
}"""


@pytest.mark.slow
def test_finished_and_killed_recordings_play_in_chromium(tmp_path, write_clip):
    """Chromium's <video> plays the fragmented MP4 whole, and the one a SIGKILL left, to its end."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")
    chromium_path = "/usr/bin/chromium"
    if not os.path.exists(chromium_path):
        pytest.skip("Debian's chromium is missing: apt-get install chromium")
    from u2live.sinks import FileSink
    from u2live.sources import open_source

    clip = write_clip(tmp_path / "clip.mp4", frames=48, fps=FPS, size=(96, 72))
    with open_source(str(clip), live=False) as source, FileSink(tmp_path / "whole.mp4", source.info) as sink:
        for frame in source:
            sink.write(frame)
    process = subprocess.Popen([sys.executable, "-c", RECORDER, "killed.mp4"], cwd=tmp_path,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    for line in process.stdout:
        if int(line) >= FPS * 3:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    killed = next(p for p in tmp_path.iterdir() if p.name.startswith("killed.partial-"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--headless", "--no-sandbox",
                                             "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        tab = browser.new_page()
        tab.goto((tmp_path / "clip.mp4").as_uri().rsplit("/", 1)[0] + "/")
        whole = tab.evaluate(PLAY, (tmp_path / "whole.mp4").as_uri())
        cut = tab.evaluate(PLAY, killed.as_uri())
        browser.close()
    assert whole["width"] == 96 and abs(whole["duration"] - 2.0) < 0.1, whole
    assert cut["width"] == 96 and cut["duration"] >= 1.0 and cut["time"] >= cut["duration"] - 0.2, cut
