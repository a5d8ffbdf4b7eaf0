"""Issue 21, class 2: an interrupted run never takes the place of a whole file. Its frames stay under the partial
name (``out.partial.mp4``), the one line says where, and ``batch`` never takes a partial for a finished output.

Real CLI processes on real noise clips (every frame costs the encoder real bytes, so the growing temporary file
shows that frames are being written), real signals, SHA-256 of the files that were there before.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

FAST = ("--size", "64", "--backend", "torch")
WRITTEN_BYTES = 60_000  # past the header and x264's lookahead: frames are reaching the file


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def start(*args, cwd: Path) -> subprocess.Popen:
    """The CLI in its own process group (as a shell job or a service is), one compute thread each."""
    return subprocess.Popen([sys.executable, "-m", "u2live", *map(str, args)], cwd=cwd, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd()), "OMP_NUM_THREADS": "1"})


def wait_for_frames(process: subprocess.Popen, folder: Path, pattern: str, count: int = 1, timeout=300) -> None:
    """Until ``count`` temporary files matching ``pattern`` in ``folder`` hold frames (a hang guard, no timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        grown = [p for p in folder.glob(pattern) if p.stat().st_size > WRITTEN_BYTES]
        if len(grown) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"no frames written (exit {process.poll()})")


def error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("u2live: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def stopped_line(stderr: str) -> str:
    """The last line of a run stopped by a signal: a request, not an error, so no 'error:' line at all."""
    assert "Traceback" not in stderr and "u2live: error:" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, write_noise_clip):
    folder = tmp_path_factory.mktemp("clips")
    return [write_noise_clip(folder / f"{name}.mp4", frames=240, audio=False) for name in ("a", "b")]


def test_ctrl_c_of_a_rerun_keeps_the_complete_output_and_says_where_the_frames_went(clips, tmp_path, write_clip):
    out = write_clip(tmp_path / "out.mp4", frames=30)  # the earlier, complete result
    before = digest(out)
    run = start("video", clips[0], "-o", out, *FAST, cwd=tmp_path)
    try:
        wait_for_frames(run, tmp_path, "out.partial-*.mp4")
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130
    kept = tmp_path / "out.partial.mp4"
    line = stopped_line(stderr)
    assert line.startswith("u2live: stopped by Ctrl-C (SIGINT)") and str(kept) in line, line
    assert digest(out) == before  # the complete result is untouched
    written = int(re.search(r"the (\d+) frames written", line).group(1))
    assert 0 < written < 240 and frames_in(kept) == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out.partial.mp4"]


def test_no_overwrite_run_that_loses_the_race_says_where_its_result_is(clips, tmp_path):
    out = tmp_path / "out.mp4"
    run = start("video", clips[0], "-o", out, "-n", "--max-frames", "120", *FAST, cwd=tmp_path)
    try:
        wait_for_frames(run, tmp_path, "out.partial-*.mp4")
        out.write_bytes(b"someone else's result, made while the run worked")
        before = digest(out)
        _, stderr = run.communicate(timeout=600)
    finally:
        run.kill()
    assert run.returncode == 1
    line = error_line(stderr)
    kept = tmp_path / "out.partial.mp4"
    assert "--no-overwrite" in line and line.endswith(f"kept in {kept}"), line
    assert digest(out) == before and frames_in(kept) == 120


def test_sigterm_to_the_whole_batch_keeps_partials_that_the_next_batch_does_not_skip(clips, tmp_path):
    out = tmp_path / "out"
    run = start("batch", *clips, "-d", out, "-j", "2", *FAST, "--quiet", cwd=tmp_path)
    try:
        wait_for_frames(run, out, "*.partial-*.mp4", count=2)
        os.killpg(run.pid, signal.SIGTERM)  # the parent and every worker, as a service manager stops a job
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 143, stderr
    assert stopped_line(stderr) == "u2live: stopped by SIGTERM"
    assert sorted(p.name for p in out.iterdir()) == ["a.partial.mp4", "b.partial.mp4"]  # no partial-xxxx stub
    for name in ("a", "b"):  # each file's line says where its frames are, and they are there
        said = re.search(rf"{name}\.mp4: stopped \(the (\d+) frames written are kept in {out / name}\.partial\.mp4\)",
                         stderr)
        assert said, stderr
        assert frames_in(out / f"{name}.partial.mp4") == int(said.group(1))
    again = subprocess.run([sys.executable, "-m", "u2live", "batch", *map(str, clips), "-d", str(out), *FAST,
                            "--max-frames", "3", "--quiet"], capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(Path.cwd()), "OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    assert "skipping" not in again.stderr  # a partial is not a finished output
    assert frames_in(out / "a.mp4") == 3 and frames_in(out / "b.mp4") == 3
