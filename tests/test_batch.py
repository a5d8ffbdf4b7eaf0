"""``u2live batch``: planning, local worker processes and a real local Ray cluster, on real short clips (one
corrupt, one without audio), through the real CLI in a subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import pytest

from u2live.batch.plan import plan_batch
from u2live.errors import InputError

MODEL = ["--backend", "torch", "--size", "64", "--smoothing", "none"]


def run_batch(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "u2live", "batch", *map(str, args), *MODEL], capture_output=True,
                          text=True, timeout=timeout)


def streams(path):
    """(video frames decoded, seconds of audio) of ``path``."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        audio = sum(f.samples / f.sample_rate for f in container.decode(audio=0)) if container.streams.audio else 0
    return frames, audio


@pytest.fixture
def clips(tmp_path, write_clip):
    """in/a.mp4 (12 frames at 12 fps, with audio), in/sub/b.mkv (10, no audio), in/broken.mp4 (a clip truncated to 2/3 of its bytes)."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_clip(folder / "a.mp4", frames=12)
    write_clip(folder / "sub" / "b.mkv", frames=10, audio=False)
    whole = write_clip(tmp_path / "whole.mp4", frames=12).read_bytes()
    (folder / "broken.mp4").write_bytes(whole[:len(whole) * 2 // 3])  # cut short, as by a failed copy
    return folder


def test_plan_mirrors_folders_skips_finished_and_refuses_collisions(clips, tmp_path):
    out = tmp_path / "out"
    flat = plan_batch([clips], out)
    assert [t.output.relative_to(out).as_posix() for t in flat.tasks] == ["a.mp4", "broken.mp4"]
    deep = plan_batch([clips], out, recursive=True, suffix=".mkv")
    assert [t.output.relative_to(out).as_posix() for t in deep.tasks] == ["a.mkv", "broken.mkv", "sub/b.mkv"]
    assert deep.tasks[0].frames == 12 and deep.tasks[1].frames is None and deep.total_frames is None
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "b.mkv").write_bytes(b"finished before")
    resumed = plan_batch([clips], out, recursive=True, suffix=".mkv")
    assert [t.input.name for t in resumed.finished] == ["b.mkv"] and len(resumed.tasks) == 2
    assert len(plan_batch([clips], out, recursive=True, suffix=".mkv", redo=True).tasks) == 3
    (clips / "sub" / "a.mov").write_bytes(b"another a")
    with pytest.raises(InputError, match="would both be written to"):
        plan_batch([clips / "a.mp4", clips / "sub" / "a.mov"], out)
    with pytest.raises(InputError, match="destroy"):
        plan_batch([clips / "sub"], clips / "sub", suffix=".mkv")  # b.mkv onto itself
    with pytest.raises(InputError, match="input not found"):
        plan_batch([clips / "missing.mp4"], out)
    with pytest.raises(InputError, match="--suffix"):
        plan_batch([clips], out, suffix="mp4")


def check_outputs(out, result):
    assert result.returncode == 1, result.stderr
    assert "failed: " in result.stderr and "broken.mp4" in result.stderr and "2 done" in result.stderr
    assert "; 22 frames in " in result.stderr  # the progress count over the batch: 12 + 10, the bad file none
    assert streams(out / "a.mp4")[0] == 12 and abs(streams(out / "a.mp4")[1] - 1.0) < 0.1
    assert streams(out / "sub" / "b.mp4") == (10, 0)
    assert not (out / "broken.mp4").exists()  # nothing under a final name for the file that failed
    assert not [p for p in out.rglob("*") if "partial" in p.name]  # nothing was written for it at all


@pytest.mark.slow
def test_local_workers_process_every_good_file_report_the_bad_one_and_resume(clips, tmp_path):
    out = tmp_path / "out"
    check_outputs(out, run_batch(clips, "--recursive", "--out-dir", out, "--jobs", 2))
    before = (out / "a.mp4").stat().st_mtime_ns
    again = run_batch(clips, "--recursive", "--out-dir", out, "--jobs", 2)
    assert again.returncode == 1 and "skipping 2 finished output(s)" in again.stderr
    assert "0 done, 2 skipped" in again.stderr and (out / "a.mp4").stat().st_mtime_ns == before


@pytest.mark.slow
def test_ray_local_cluster_processes_the_same_batch(clips, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'u2live[ray]'")
    out = tmp_path / "out"
    env_without_cluster = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-m", "u2live", "batch", str(clips), "--recursive", "--out-dir",
                             str(out), "--ray", "--jobs", "2", *MODEL], capture_output=True, text=True,
                            timeout=600, env=env_without_cluster)  # a local cluster: ray.init(num_cpus=2)
    assert "batch on Ray: 2 workers" in result.stderr, result.stderr
    check_outputs(out, result)


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_leaves_no_half_file_under_a_final_name(tmp_path, write_clip):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("long1.mp4", "long2.mp4"):
        write_clip(folder / name, frames=600, size=(320, 240), audio=False)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "u2live", "batch", str(folder), "--out-dir", str(out),
                            "--jobs", "2", *MODEL], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("*partial*")):
        time.sleep(0.2)  # both workers have their model and are writing
    time.sleep(1.0)
    run.send_signal(signal.SIGINT)
    stderr = run.communicate(timeout=120)[1]
    assert run.returncode == 130, stderr
    assert not (out / "long1.mp4").exists() and not (out / "long2.mp4").exists()
    kept = sorted(p.name for p in out.iterdir())
    assert kept and all("partial" in name for name in kept), kept
