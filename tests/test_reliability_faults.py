"""Faults while running: the RTMP server goes away and comes back, the camera disappears, the disk fills, a stage
fails. Real servers and files; the camera is ``FakeCapture`` from test_sources (no camera on CI machines), and the
stage failures are test stand-ins named as such. Times are measured with generous bounds as hang guards only.
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import av
import pytest

from u2live import backends
from u2live.backgrounds import parse_background
from u2live.pipeline import Stages, run_pipeline
from u2live.sinks import FileSink
from u2live.sources import open_source

SIZE = "64"
TESTS = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # torch's OpenMP barriers thrash on a loaded shared machine


def decoded(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def reported_frames(stderr: str) -> int:
    import re

    found = re.findall(r"^u2live: (\d+) frames in ", stderr, flags=re.M)
    assert found, stderr
    return int(found[-1])


def partial(out):
    """Where a failed run keeps the frames it wrote (issue 9): ``out.partial.mp4``; the target is never created."""
    return out.with_name(f"{out.stem}.partial{out.suffix}")


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("u2live: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------- RTMP server

def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class StderrLines:
    """A process's stderr read line by line in a thread, so a test can wait for a line without a fixed sleep."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line containing ``text``; fails after ``timeout`` seconds (a hang guard, not a speed claim)."""
        with self._changed:
            found = self._changed.wait_for(lambda: next((l for l in self.lines if text in l), None), timeout)
        assert found, f"no line with {text!r} within {timeout} s: {self.text()}"
        return found

    def text(self) -> str:
        self._reader.join(timeout=60)
        return "\n".join(self.lines)


def test_rtmp_server_restarted_mid_stream_is_reconnected_while_the_file_keeps_recording(
        tmp_path, write_noise_clip, start_rtmp_server, unused_port):
    """Every step waits for the event before it, not for a time: the server comes back once the loss was
    reported, and the run is stopped once the reconnection was (the clip, 60 s paced to real time, outlasts any
    backoff), so a busy machine only makes the test slower. The file keeps every frame throughout."""
    clip = write_noise_clip(tmp_path / "clip.mp4", frames=720)  # 60 s at 12 fps: longer than the test needs
    port = unused_port
    url, first, second, out = (f"rtmp://127.0.0.1:{port}/live/x", tmp_path / "first.flv", tmp_path / "second.flv",
                               tmp_path / "out.mp4")
    servers = [start_rtmp_server(url, port, first)]
    run = subprocess.Popen([sys.executable, "-m", "u2live", "video", str(clip), "-o", str(out), "--rtmp", url,
                            "--size", SIZE, "--backend", "torch"], env=ENV, stderr=subprocess.PIPE, text=True)
    stderr = StderrLines(run)
    try:
        wait_until(lambda: first.exists() and first.stat().st_size > 50_000, 120, "the first server to receive")
        servers[0].terminate()  # the server goes away mid-stream
        servers[0].wait(30)
        lost = stderr.wait_for(f"u2live: warning: lost the stream to {url}", 120)
        servers.append(start_rtmp_server(url, port, second))  # and comes back on the same port
        stderr.wait_for(f"u2live: reconnected to {url}", 180)  # after seconds of writes on the new connection
        run.send_signal(signal.SIGINT)  # enough shown: stop, as a user would
        run.wait(120)
        servers[1].wait(60)  # ends when the stream does
    finally:
        for process in (run, *servers):
            process.kill()
    text = stderr.text()
    assert run.returncode == 130 and "Traceback" not in text, text
    assert "next try in 1 s" in lost
    frames = reported_frames(text)
    # the file sink recorded every frame throughout; stopped, they are kept under the partial name (issue 21)
    assert decoded(partial(out)) == frames and frames >= 24 and not out.exists()
    assert decoded(first) > 0 and decoded(second) >= 24  # the restarted server got seconds of stream
    with av.open(str(second)) as got:
        assert sorted(s.codec_context.name for s in got.streams) == ["aac", "h264"]


# ---------------------------------------------------------------------------------------------- lost camera

LOST_CAMERA = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from test_sources import FakeCapture  # the named fake camera: 40 frames, then read() fails like an unplugged one
    from u2live.sources import camera
    camera._opencv_capture = lambda target: FakeCapture(frames=40, size=(160, 120), period=1 / 15)
    from u2live.cli import main
    main(sys.argv[2:], prog_name="u2live")
""")


def test_camera_that_disappears_stops_the_run_with_a_message_and_the_file_finalised(tmp_path):
    out = tmp_path / "out.mp4"
    result = subprocess.run([sys.executable, "-c", LOST_CAMERA, str(TESTS), "webcam", "--source", "0", "--no-vcam",
                             "-o", str(out), "--size", SIZE, "--backend", "torch"], env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    line = error_line(result.stderr)
    frames = reported_frames(result.stderr)
    assert line == ("u2live: error: camera 0 stopped delivering frames (no frame for 3 s); "
                    f"was it unplugged or taken by another program? (the {frames} frames written are kept in "
                    f"{partial(out)})")
    assert 0 < frames <= 40 and decoded(partial(out)) == frames and not out.exists()


# ---------------------------------------------------------------------------------------------- full disk

def _file_size_limit(limit: int):
    def apply():  # in the child: writes past ``limit`` fail with EFBIG instead of killing it with SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.fixture(scope="module")
def big_frames_clip(tmp_path_factory, write_noise_clip):
    """320x240 noise: with ``--bg blur:1`` each output frame costs ~15 kB, so a few MB fill up in seconds."""
    return write_noise_clip(tmp_path_factory.mktemp("disk") / "clip.mp4", frames=160, size=(320, 240), audio=False)


def run_until_full(clip, out, preexec=None):
    return subprocess.run([sys.executable, "-m", "u2live", "video", str(clip), "-o", str(out), "--bg", "blur:1",
                           "--size", SIZE, "--backend", "torch"], env=ENV, capture_output=True, text=True,
                          timeout=300, preexec_fn=preexec)


def test_file_size_limit_stops_with_a_clear_error_and_the_file_plays(big_frames_clip, tmp_path):
    """A full disk, simulated with RLIMIT_FSIZE (``ulimit -f``) on the child: works without privileges."""
    out = tmp_path / "out.mp4"
    result = run_until_full(big_frames_clip, out, _file_size_limit(3_000_000))
    assert result.returncode == 1, result.stderr
    assert "file size limit (ulimit -f) is nearly reached" in error_line(result.stderr)
    frames = reported_frames(result.stderr)
    assert 0 < frames < 160 and decoded(partial(out)) == frames and not out.exists()
    assert partial(out).stat().st_size <= 3_000_000


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB filesystem (tmpfs); skipped where this process may not mount one (needs root/CAP_SYS_ADMIN)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip() or made.returncode}): the "
                    "RLIMIT_FSIZE test covers the full disk")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_stops_with_a_clear_error_and_the_file_plays(big_frames_clip, small_disk):
    out = small_disk / "out.mp4"
    result = run_until_full(big_frames_clip, out)
    assert result.returncode == 1, result.stderr
    assert "the disk is nearly full" in error_line(result.stderr)
    frames = reported_frames(result.stderr)
    assert 0 < frames < 160 and decoded(partial(out)) == frames and not out.exists()


# ---------------------------------------------------------------------------------------------- failing stage

@pytest.fixture(scope="module")
def segmenter():
    with backends.create("torch", size=int(SIZE)) as seg:
        yield seg


class FailingSink:
    """A test stand-in for a sink that breaks at its ``fail_at``-th frame (an encoder bug, a device error);
    ``failed_at`` is when it raised (perf_counter)."""

    def __init__(self, fail_at: int):
        self.fail_at, self.frames, self.failed_at, self.closed = fail_at, 0, None, False

    def write(self, frame):
        if self.frames == self.fail_at:
            self.failed_at = time.perf_counter()
            raise RuntimeError("sink broke")
        self.frames += 1

    def close(self):
        self.closed = True


class FailingSegmenter:
    """A test stand-in wrapping the real segmenter; its ``fail_at``-th model call raises (a driver error)."""

    def __init__(self, real, fail_at: int):
        self.real, self.fail_at, self.calls, self.failed_at = real, fail_at, 0, None
        self.size, self.device = real.size, real.device  # the Segmenter attributes the pipeline reads

    def predict_frames(self, images, stats=None):
        if self.calls == self.fail_at:
            self.failed_at = time.perf_counter()
            raise RuntimeError("model broke")
        self.calls += 1
        return self.real.predict_frames(images, stats)

    def describe(self):
        return "failing " + self.real.describe()


def live_u2live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("u2live-") and t.is_alive()}


@pytest.mark.parametrize("where", ["sink", "segmenter"])
def test_failing_stage_stops_the_pipeline_promptly_and_joins_every_thread(tmp_path, segmenter, where,
                                                                          write_noise_clip):
    clip = write_noise_clip(tmp_path / "clip.mp4", frames=48, audio=False)
    out = tmp_path / "out.mp4"
    before = live_u2live_threads()  # only this run's threads count: not ones an earlier test left behind
    source = open_source(str(clip), live=False)
    file_sink = FileSink(out, source.info)
    broken_sink = FailingSink(fail_at=10 if where == "sink" else 10**9)
    model = FailingSegmenter(segmenter, fail_at=10 if where == "segmenter" else 10**9)
    stages = Stages(mode="composite", background=parse_background("color:0,0,255"))
    with pytest.raises(RuntimeError, match="broke"):
        run_pipeline(source, model, stages, [file_sink, broken_sink])
    failed_at = broken_sink.failed_at or model.failed_at
    stopped_in = time.perf_counter() - failed_at
    print(f"pipeline stopped {stopped_in:.2f} s after the {where} failed")
    assert stopped_in < 5.0, f"took {stopped_in:.1f} s to stop"  # a hang guard, not a speed claim
    assert live_u2live_threads() - before == set()  # this run's writer and file reader were joined
    # the real file was finalised with what it got, under the partial name (a failed run never makes the target)
    assert broken_sink.closed and file_sink.kept == partial(out) and decoded(partial(out)) == file_sink.frames
    assert 10 <= file_sink.frames <= 11  # the 11th reached the file before the sink after it broke
