"""Ctrl-C (SIGINT) and SIGTERM during ``u2live video`` and ``u2live webcam`` (a file standing in for the camera):
every sink is closed, the output plays and holds exactly the frames the run reported, exit 130 / 143; a second
Ctrl-C during the cleanup exits at once. Real processes, real signals, real files counted with PyAV. A live
recording that the user stops is complete (it has no other end): it takes the output's name. An interrupted
``video`` is not: its frames are kept as ``out.partial.mp4``, and the error line says so (issue 21).

The clip is noise (every frame costs the encoder ~10 kB), so the output file's growth shows that frames are being
written: the signal is sent once the encoder has emitted its first packets, past x264's lookahead.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import av
import pytest
from u2live.signals import BY

SIZE = "64"
FRAMES = 240
WRITTEN_BYTES = 60_000  # the output has grown past its header: the encoder is emitting frames


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory, write_noise_clip):
    """240 frames of 160x120 noise at 12 fps with an AAC tone: a 20 s clip that stands in for a camera, too."""
    return write_noise_clip(tmp_path_factory.mktemp("interrupts") / "noise.mp4", frames=FRAMES)


def single_threaded_env() -> dict:
    """One intra-op thread: on a shared, loaded machine torch's OpenMP barriers with 2 threads made these runs
    20x slower (0.44 vs 8.8 FPS measured side by side); the tests are about signals, not speed."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


class Run:
    """A CLI process whose stderr is read line by line in a thread (so its pipe never fills); a context manager
    that kills the process if the test fails before it ended."""

    def __init__(self, *args):
        self.process = subprocess.Popen([sys.executable, "-m", "u2live", *map(str, args)], env=single_threaded_env(),
                                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self.stopping = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if "stopping" in line:
                self.stopping.set()

    def wait_for_output(self, path, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            # the run writes out.partial-xxxx.mp4 beside the target until it ends (issue 9: atomic outputs)
            for written in (path, *path.parent.glob(f"{path.stem}.partial-*{path.suffix}")):
                if written.exists() and written.stat().st_size > WRITTEN_BYTES:
                    return
            time.sleep(0.1)
        raise AssertionError(f"no frames written before the deadline (exit {self.process.poll()}): {self.lines}")

    def finish(self, timeout=120) -> int:
        code = self.process.wait(timeout=timeout)
        self.reader.join(10)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


def reported_frames(stderr: str) -> int:
    """N from the run's summary line ``u2live: N frames in S s: ...``."""
    found = re.findall(r"^u2live: (\d+) frames in ", stderr, flags=re.M)
    assert found, stderr
    return int(found[-1])


def decoded_frames(path) -> tuple[int, int, int]:
    """(frames, width, height): every frame decoded, which fails on a file whose trailer was never written."""
    with av.open(str(path)) as container:
        frames = [frame for frame in container.decode(video=0)]
        audio = len(container.streams.audio)
    return len(frames), frames[0].width, audio


COMMANDS = {
    "video": lambda clip, out: ["video", clip, "-o", out],
    "webcam": lambda clip, out: ["webcam", "--source", clip, "--no-vcam", "-o", out],
}


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_signal_closes_every_sink_with_every_frame_written(noise_clip, tmp_path, command, sig, code):
    out = tmp_path / "out.mp4"
    with Run(*COMMANDS[command](noise_clip, out), "--size", SIZE, "--backend", "torch") as run:
        run.wait_for_output(out)
        run.process.send_signal(sig)
        assert run.finish() == code, run.stderr
    assert "Traceback" not in run.stderr
    if command == "video":
        kept = tmp_path / "out.partial.mp4"
        assert run.lines[-1] == f"u2live: stopped by {BY[sig]} (the {reported_frames(run.stderr)} frames written " \
                                f"are kept in {kept})"  # a request, not an error; the frames are not lost
        assert not out.exists()
        out = kept
    else:
        assert run.lines[-1] == f"u2live: stopped by {BY[sig]}"  # a request, not an error
    frames, width, audio_streams = decoded_frames(out)
    assert frames == reported_frames(run.stderr)  # every frame the run wrote is in the file, no more
    assert 0 < frames < FRAMES and width == 160
    assert audio_streams == 1


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_second_ctrl_c_during_cleanup_exits_at_once(noise_clip, tmp_path, command):
    out = tmp_path / "out.mp4"
    with Run(*COMMANDS[command](noise_clip, out), "--size", SIZE, "--backend", "torch") as run:
        run.wait_for_output(out)
        run.process.send_signal(signal.SIGINT)
        assert run.stopping.wait(60), run.stderr  # the first one is being handled: cleanup has begun
        run.process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        assert run.finish(timeout=30) == 130, run.stderr
    assert time.monotonic() - sent < 10  # a hang guard, not a speed claim
    assert "Traceback" not in run.stderr
    assert run.lines[-1] == "u2live: interrupted again, exiting now"
