"""u2live.job: a run described by one RunSpec, opened and closed once, changing no process-wide setting."""
from __future__ import annotations

import subprocess
import sys

import pyvirtualcam
import pytest
import torch

from u2live import job
from u2live.job import run_job
from u2live.pipeline import Stages
from u2live.spec import ModelSpec, RunSpec

SIZE = 64


@pytest.fixture(scope="module")
def clip(tmp_path_factory, write_clip):
    return write_clip(tmp_path_factory.mktemp("job") / "clip.mp4", frames=12, audio=False)


class Camera:
    """A pyvirtualcam backend that counts how often a camera device is opened (no v4l2loopback here)."""

    opened = 0

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        Camera.opened += 1
        self.fourcc = fourcc

    def send(self, frame):
        pass

    def close(self):
        pass

    def device(self):
        return "counting"

    def native_fourcc(self):
        return self.fourcc


@pytest.fixture
def camera():
    Camera.opened = 0
    pyvirtualcam.register_backend("u2live-test-counting", Camera)
    yield Camera
    pyvirtualcam.camera.BACKENDS.pop("u2live-test-counting", None)


def counting_closes(monkeypatch) -> list:
    """Every source, stages and sink a run opens, each with the number of times its close() was called."""
    made = []

    def counted(thing):
        close = thing.close
        entry = [thing, 0]

        def close_counted():
            entry[1] += 1
            close()

        thing.close = close_counted
        made.append(entry)
        return thing

    open_source, build_stages, open_sinks = job.open_source, job.build_stages, job.open_sinks
    monkeypatch.setattr(job, "open_source", lambda *a, **k: counted(open_source(*a, **k)))
    monkeypatch.setattr(job, "build_stages", lambda *a, **k: counted(build_stages(*a, **k)))
    monkeypatch.setattr(job, "open_sinks", lambda *a, **k: [counted(s) for s in open_sinks(*a, **k)])
    return made


def closes(made: list) -> list[tuple[str, int]]:
    """(class name, times closed); the stages' count capped at 1: they also close their own background before
    opening it at a new frame size (from inside, on the first frame)."""
    return [(type(thing).__name__, min(count, 1) if isinstance(thing, Stages) else count) for thing, count in made]


def spec(clip, out, **fields) -> RunSpec:
    return RunSpec(str(clip), model=ModelSpec(model="u2netp", size=SIZE, backend="torch"), output=out,
                   progress=False, **fields)


def test_a_run_closes_its_source_stages_and_sinks_once(clip, tmp_path, monkeypatch):
    made = counting_closes(monkeypatch)
    stats = run_job(spec(clip, tmp_path / "out.mp4"))
    assert stats.frames == 12 and (tmp_path / "out.mp4").is_file()
    assert closes(made) == [("FileSource", 1), ("Stages", 1), ("FileSink", 1)]


def test_ctrl_c_while_the_progress_bar_is_set_up_leaves_nothing_and_closes_everything_once(clip, tmp_path,
                                                                                          monkeypatch):
    made = counting_closes(monkeypatch)

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "progress_bar", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_job(spec(clip, tmp_path / "out.mp4"))
    assert closes(made) == [("FileSource", 1), ("Stages", 1), ("FileSink", 1)]
    assert list(tmp_path.iterdir()) == []  # no output, no partial file: no encoder left open


def test_the_virtual_camera_is_opened_once(clip, tmp_path, camera):
    """Opened before the model loads (a missing v4l2loopback fails at once) and that same camera gets the frames
    (a live clip plays while the model loads: how many frames come out depends on the machine's load)."""
    stats = run_job(spec(clip, None, live=True, vcam=True, max_frames=4))
    assert 1 <= stats.frames <= 4 and camera.opened == 1


def test_a_cpu_run_gives_torch_its_threads_back(clip, tmp_path):
    """The CPU model has the cores during the run (torch one thread); the caller's setting is restored after."""
    before = torch.get_num_threads()
    seen = []
    cpu = RunSpec(str(clip), model=ModelSpec(model="u2netp", size=SIZE, backend="cpu", precision="fp32"),
                  output=tmp_path / "out.mp4", progress=False, max_frames=2)
    torch.set_num_threads(2)
    try:
        run_job(cpu, on_frame=lambda: seen.append(torch.get_num_threads()))
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_importing_the_run_and_its_spec_imports_no_torch():
    """What the CLI imports to describe and start a run leaves torch to the stages that use it."""
    code = "import sys, u2live.job, u2live.spec; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False"], done.stderr


@pytest.mark.parametrize("live", [False, True], ids=["video", "webcam"])
def test_a_cpu_run_never_imports_torch(clip, tmp_path, live):
    """Issue 22: on the CPU the stages are numpy and OpenCV (u2live.kernels) and the models ONNX Runtime, so a whole
    run, with the default person-aware model, the motion smoother and a blurred background, leaves torch unloaded."""
    out = tmp_path / f"out-{live}.mp4"
    code = ("import sys\n"
            "from u2live.job import run_job\n"
            "from u2live.spec import ModelSpec, RunSpec\n"
            f"spec = RunSpec({str(clip)!r}, model=ModelSpec(model='auto', backend='cpu'), output={str(out)!r},\n"
            f"               background='blur', progress=False, live={live}, max_frames=6)\n"
            "stats = run_job(spec)\n"
            "print(stats.frames, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frames, loaded = done.stdout.split()[-2:]
    assert int(frames) >= 1 and loaded == "False", done.stdout + done.stderr
