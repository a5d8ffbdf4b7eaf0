"""The live path (u2live.live): every frame rendered with the newest mask, a worker thread for the model, the mask
carried by optical flow, the smoother fed once per mask, errors and stops, threads, and ``u2live webcam --sync``.

The model is the bundled one on the ``torch`` backend at 64x64 (cheap); clips are small ones written with PyAV
(the ``write_clip`` fixture) or real Megamind frames. ``FailingSegmenter`` is a test stand-in for a model that
breaks mid-run (a lost GPU, a bug), named as such.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from u2live import backends
from u2live.adaptive import AdaptiveSegmenter, RefreshGovernor, Setting
from u2live.backends.base import Segmenter
from u2live.frame import Frame
from u2live.job import run_frames
from u2live.live import WORKER_NICENESS, MaskCarrier, run_live
from u2live.pipeline import Stages
from u2live.smoothing import make_smoother
from u2live.sources import open_source
from u2live.stats import PipelineStats

from fakes import RecordingSink

SIZE = 64


@pytest.fixture(scope="module")
def segmenter():
    with backends.create("torch", size=SIZE) as seg:
        yield seg


@pytest.fixture(scope="module")
def clip(tmp_path_factory, write_clip):
    """36 frames of 96x72 at 12 fps (3 s when paced as a camera)."""
    return write_clip(tmp_path_factory.mktemp("live") / "clip.mp4", frames=36, audio=False)


@pytest.fixture(autouse=True)
def no_thread_outlives_the_run():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5  # daemon threads of earlier tests may still be winding down
    while time.monotonic() < deadline and set(threading.enumerate()) - before:
        time.sleep(0.05)
    left = [t.name for t in set(threading.enumerate()) - before]
    assert not left, f"threads outlived the run: {left}"


class RecordingSmoother:
    """The real smoother, recording the timestamps it is given."""

    def __init__(self):
        self.real, self.seen = make_smoother("ema"), []

    def update(self, mask, pts, image=None, flow=None):
        self.seen.append(pts)
        return self.real.update(mask, pts, image=image)


class FailingSegmenter(Segmenter):
    """Stand-in for a model that breaks at its ``fail_at``-th call: the real one until then."""

    name = "failing"

    def __init__(self, real: Segmenter, fail_at: int):
        self.real, self.fail_at, self.calls = real, fail_at, 0
        self.size, self.model, self.precision, self.input = real.size, real.model, real.precision, real.input

    def infer(self, batch):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("model broke")
        return self.real.infer(batch)


def matte_stages(smoother=None) -> Stages:
    return Stages(mode="matte", smoother=smoother)


def test_every_frame_is_rendered_once_in_order_and_the_smoother_sees_each_mask_once(clip, segmenter):
    """A source that never drops: every frame comes out, in order, each with a mask no newer than itself; the
    smoother is called once per mask the model made, at that mask's frame's timestamp, moving forward."""
    sink, smoother = RecordingSink(), RecordingSmoother()
    with open_source(str(clip), live=False) as source:
        pts = [frame.pts for frame in source]
    stats = run_live(open_source(str(clip), live=False), segmenter, matte_stages(smoother), [sink])
    assert [f.index for f in sink.frames] == list(range(36)) and sink.closed == 1
    assert sink.frames[0].image.shape == (72, 96, 3)
    assert 1 <= stats.masks <= 36 and len(smoother.seen) == stats.masks
    assert all(a < b for a, b in zip(smoother.seen, smoother.seen[1:]))
    assert set(smoother.seen) <= set(pts) and smoother.seen[0] == pts[0]  # the first frame waits for its own mask
    live = stats.live()
    assert live["delivered_share"] == 1.0 and live["mask_age_ms_p50"] >= 0


def test_a_paced_source_keeps_its_rate_with_fresh_masks(clip, segmenter):
    """Paced as a camera (12 fps here): frames come out with masks made beside them; the stats say how, against
    the camera's rate (run_frames, the entry of every live run, gives the stats the source's rate)."""
    sink = RecordingSink()
    stats = run_frames(open_source(str(clip), live=True), segmenter, matte_stages(make_smoother("auto")), [sink],
                       live=True, stats=PipelineStats())
    assert stats.camera_fps == 12.0
    indices = [f.index for f in sink.frames]
    assert indices == sorted(set(indices)) and indices[-1] == 35  # newest first, none twice, to the end
    data = stats.as_dict()
    assert data["frames"] == len(sink.frames) and stats.masks >= 2
    assert data["delivered_fps"] > 0 and data["mask_hz"] > 0 and data["latency_ms_p50"] > 0
    assert "delivered" in stats.live_summary() and "masks refreshed" in stats.live_summary()


def test_a_worker_error_reaches_the_caller_and_closes_everything(clip, segmenter):
    sink = RecordingSink()
    source = open_source(str(clip), live=True)
    with pytest.raises(RuntimeError, match="model broke"):
        run_live(source, FailingSegmenter(segmenter, fail_at=3), matte_stages(), [sink])
    assert sink.closed == 1 and 1 <= len(sink.frames) < 36


def test_a_stop_ends_everything_within_a_second(clip, segmenter):
    """What the preview's q does: the run returns normally, every thread joined, within a second of the stop."""
    stop, stopped_at = threading.Event(), []
    sink = RecordingSink()

    def on_frame(frame):
        if len(sink.frames) >= 3 and not stop.is_set():
            stopped_at.append(time.perf_counter())
            stop.set()

    stats = run_live(open_source(str(clip), live=True), segmenter, matte_stages(), [sink], stop_event=stop,
                     on_frame=on_frame)
    assert time.perf_counter() - stopped_at[0] < 1.0  # the bound (a hang guard, not a speed claim)
    assert 3 <= stats.frames < 36 and sink.closed == 1


def test_ctrl_c_in_the_main_thread_closes_everything(clip, segmenter):
    """KeyboardInterrupt (Ctrl-C) while rendering: it comes back unchanged, sinks closed, worker joined."""
    class Interrupting(Stages):
        def picture(self, image, mask, pts, stats):
            if pts > 0.5:
                raise KeyboardInterrupt
            return super().picture(image, mask, pts, stats)

    sink = RecordingSink()
    with pytest.raises(KeyboardInterrupt):
        run_live(open_source(str(clip), live=True), segmenter, Interrupting(mode="matte"), [sink])
    assert sink.closed == 1 and sink.frames


class SizeRecordingSmoother(RecordingSmoother):
    """The real smoother, recording the size of each mask it is given."""

    def update(self, mask, pts, image=None, flow=None):
        self.seen.append(mask.shape[-1])
        return self.real.update(mask, pts, image=image)


def test_the_governor_steps_the_model_down_during_a_run_and_the_picture_goes_on(clip, segmenter):
    """--size auto's live half: when masks come slower than wanted (here: a target no model reaches), the worker
    loads the next smaller rung between two masks and closes the old model; every later mask has the new size,
    no frame is lost on the way and nothing outlives the run."""
    lines, opened = [], []

    def create(setting):
        opened.append(backends.create("torch", size=setting.size))
        return opened[-1]

    rungs = [Setting(SIZE, "fp32"), Setting(32, "fp32")]
    governor = RefreshGovernor(rungs, rungs[0], target_hz=1000.0, window=0.3)
    model = AdaptiveSegmenter(backends.create("torch", size=SIZE), governor, create, log=lines.append)
    first, sink, smoother = model.current, RecordingSink(), SizeRecordingSmoother()
    with model:
        stats = run_live(open_source(str(clip), live=True), model, matte_stages(smoother), [sink])
    assert model.switches == [rungs[1]] and first._closed and opened[0]._closed  # the last one closed with it
    assert "fp32 32x32 from now" in lines[0] and len(lines) == 1
    assert stats.backend.endswith("32x32 (--size auto: fp32 64x64 -> fp32 32x32)")  # the summary: where it ended
    assert smoother.seen[0] == SIZE and smoother.seen[-1] == 32 and sorted(smoother.seen, reverse=True) == \
        smoother.seen
    assert [f.index for f in sink.frames][-1] == 35 and stats.masks == len(smoother.seen)


def test_a_failure_to_load_the_next_rung_reaches_the_caller(clip, segmenter):
    def create(setting):
        raise RuntimeError("cannot load the smaller model")

    rungs = [Setting(SIZE, "fp32"), Setting(32, "fp32")]
    model = AdaptiveSegmenter(backends.create("torch", size=SIZE), RefreshGovernor(rungs, rungs[0], target_hz=1e3,
                              window=0.3), create, log=lambda line: None)
    sink = RecordingSink()
    with model, pytest.raises(RuntimeError, match="cannot load the smaller model"):
        run_live(open_source(str(clip), live=True), model, matte_stages(), [sink])
    assert sink.closed == 1 and len(sink.frames) < 36


def test_a_run_that_ends_while_the_worker_builds_the_next_size_ends_cleanly(clip, segmenter, tmp_path, monkeypatch):
    """A rung whose graph is not shipped is built in a child process (u2live.backends.graph_build); when the run
    ends meanwhile, the build is stopped (not waited for) and that is no error: the run returns as usual."""
    from u2live.backends import graph_build

    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path))  # nothing built yet: the build takes seconds
    building, stop = threading.Event(), threading.Event()

    def create(setting):
        building.set()
        return backends.create("cpu", size=setting.size, precision="fp32", log=lambda line: None)

    def stop_soon_after_the_build_starts():
        if building.wait(10):
            time.sleep(0.5)
        stop.set()

    stopper = threading.Thread(target=stop_soon_after_the_build_starts)
    stopper.start()
    rungs = [Setting(SIZE, "fp32"), Setting(96, "fp32")]
    model = AdaptiveSegmenter(segmenter, RefreshGovernor(rungs, rungs[0], target_hz=1e3, window=0.3), create,
                              log=lambda line: None)
    stats = run_live(open_source(str(clip), live=True), model, matte_stages(), [RecordingSink()], stop_event=stop)
    stopper.join()
    assert building.is_set() and stats.frames > 0
    assert model.current is segmenter and not graph_build._children  # the child is gone, the old model kept


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread CPU priority is Linux's")
def test_the_model_runs_below_the_pictures_cpu_priority(clip, segmenter):
    """Where the cores are short the camera's frames go first: the model's thread is niced, the rest is not."""
    seen = []

    class Watching(FailingSegmenter):
        def infer(self, batch):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return self.real.infer(batch)

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    run_live(open_source(str(clip), live=True), Watching(segmenter, fail_at=0), matte_stages(), [RecordingSink()],
             max_frames=6)
    assert seen and set(seen) == {min(19, before + WORKER_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the caller's own is unchanged


def test_ctrl_c_while_the_model_loads_waits_for_the_load_and_closes_what_it_made():
    """Ctrl-C in the caller while ``below_the_picture`` loads: the load is not left running in its thread (the
    process would abort in ONNX Runtime's code at exit); it finishes, its result is closed, the interrupt goes on."""
    import signal

    from u2live.live import below_the_picture

    class Loaded:
        closed = False

        def close(self):
            self.closed = True

    made, sent = [], threading.Event()

    def make():
        assert sent.wait(10)  # still loading when the interrupt comes, however slow the machine
        time.sleep(1.0)
        made.append(Loaded())
        return made[-1]

    def interrupt():
        os.kill(os.getpid(), signal.SIGINT)
        sent.set()

    # Python's own Ctrl-C handler, whatever an earlier test (a server, a cluster) left installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, interrupt)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            below_the_picture(make)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert made and made[0].closed


def test_the_carrier_moves_a_mask_along_the_motion(megamind):
    """Frame b is frame a shifted 16 px left (real Megamind pixels): a mask made on a, carried to b, lines up
    with b; on its own frame, or with warping off, the mask is returned as it is."""
    with open_source(str(megamind), live=False) as source:
        image = next(frame.image for frame in source if frame.index == 100)  # the man and the wall behind him
    a, b = image[:, 16:-16], image[:, 32:]
    level = image.mean()
    mask_of = lambda picture: torch.from_numpy((picture.mean(-1) > level).astype(np.float32))  # noqa: E731
    carrier = MaskCarrier()
    carrier.hold(mask_of(a), Frame(a, 0.0, 0))
    carried = carrier.to(Frame(b, 0.04, 1))
    target = mask_of(b)
    assert (carried - target).abs().mean() < 0.3 * (mask_of(a) - target).abs().mean()
    assert carrier.to(Frame(a, 0.0, 0)) is carrier.mask
    still = MaskCarrier(warp=False)
    still.hold(mask_of(a), Frame(a, 0.0, 0))
    assert still.to(Frame(b, 0.04, 1)) is still.mask


def test_stats_of_a_live_run_count_delivered_frames_against_the_camera():
    stats = PipelineStats()
    stats.camera_fps = 30.0
    for index in (0, 1, 2, 4, 5, 6, 7, 8, 9, 10):  # frame 3 dropped
        stats.frame_written(captured_at=0.0, index=index)
        stats.mask_shown(0.033 * (index % 4))
        time.sleep(0.002)
    stats.masks_made(1)
    stats.masks_made(1)
    live = stats.live()
    assert live["delivered_share"] == round(10 / 11, 3) and live["camera_fps"] == 30.0
    assert live["delivered_fps"] > 0 and live["mask_hz"] > 0
    assert live["mask_age_ms_p50"] == pytest.approx(33.0) and 66.0 < live["mask_age_ms_p99"] <= 99.0


def test_live_rates_count_in_capture_time_so_a_late_first_frame_out_cannot_beat_the_camera():
    """24 frames captured at 24 fps reach the output in a burst (as after a slow first frame): on the output's
    clock that is more frames a second than the camera made (a bench run printed "delivered 25.4 of 24.0 FPS");
    in capture time it is the camera's rate, every frame delivered."""
    stats = PipelineStats()
    stats.camera_fps = 24.0
    start = time.perf_counter() - 2.0
    for index in range(24):
        stats.frame_written(captured_at=start + index / 24, index=index)
    live = stats.live()
    assert live["delivered_fps"] == pytest.approx(24.0, rel=1e-3) and live["delivered_share"] == 1.0
    assert stats.live_summary().startswith("delivered 24.0 of the camera's 24.0 FPS after the first frame shown "
                                           "(100.0% of the frames it sent since)")


def test_a_live_run_that_showed_one_frame_says_so_instead_of_a_rate():
    """179 of 180 camera frames dropped while starting: the line must not claim 100% of the camera's frames."""
    stats = PipelineStats()
    stats.camera_fps = 30.0
    stats.frame_written(captured_at=time.perf_counter(), index=179)
    assert stats.live_summary() == "delivered 1 frame: too few for a rate against the camera's 30.0 FPS"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("sync", [False, True], ids=["beside", "sync"])
def test_webcam_reports_how_it_kept_up(clip, tmp_path, sync):
    """The summary says delivered FPS against the camera's, masks per second and mask age; --sync shows each
    frame with its own mask (age 0)."""
    out = tmp_path / "out.mp4"
    result = run_cli("webcam", "--source", clip, "--no-vcam", "-o", out, "--size", SIZE, "--backend", "torch",
                     *(["--sync"] if sync else []))
    assert result.returncode == 0, result.stderr
    *_, live, summary = result.stderr.strip().splitlines()
    assert "of the camera's 12.0 FPS" in live and "mask age p50" in live  # the rates need two events or more
    assert summary.startswith("u2live: ") and " frames in " in summary
    if sync:
        assert "mask age p50 0 ms, p99 0 ms" in live


def test_the_temporal_state_takes_the_carriers_flow_for_a_pair_of_frames_already_shown(megamind):
    """Issue 22: one flow per live frame. A mask made on frame 101 comes while the carrier holds frame 100's and
    has shown 101 with it: the temporal state's step 100 -> 101 takes that flow (at the carrier's resolution,
    shrunk to its own) instead of computing a second one, and holds what it holds with its own flow, within a
    small difference (the two flows differ by their resolution)."""
    import av

    from u2live.temporal import MotionSmoother

    with av.open(str(megamind)) as clip:
        pictures = [f.to_ndarray(format="rgb24") for i, f in zip(range(103), clip.decode(video=0)) if i >= 99]
    with backends.create("cpu", model="u2netp", size=160, precision="int8", log=lambda line: None) as model:
        masks = model.predict_frames(np.stack(pictures))
    frames = [Frame(picture, (99 + i) / 24, 99 + i) for i, picture in enumerate(pictures)]
    carrier, own, shared = MaskCarrier(), MotionSmoother(), MotionSmoother()
    for step in range(1, len(frames)):
        before, now = frames[step - 1], frames[step]
        if step == 1:
            held = [s.update(masks[0], before.pts, image=before.image) for s in (own, shared)][1]
            carrier.hold(held, before)
        carrier.to(now)  # shown with the held mask: the flow before -> now is computed here
        flow = carrier.motion_to(now)
        assert flow is not None and carrier.motion_to(Frame(now.image, 0.0, 999)) is None
        shared.flow.flow = lambda *args, **kwargs: pytest.fail("the temporal state computed a second flow")
        held = shared.update(masks[step], now.pts, image=now.image, flow=flow)
        expected = own.update(masks[step], now.pts, image=now.image)
        diff = np.abs(held - expected)
        assert diff.mean() <= 0.005 and (diff > 0.1).mean() <= 0.01, (step, diff.mean(), (diff > 0.1).mean())
        carrier.hold(held, now)
        assert carrier.motion_to(now) is None  # a new mask's frame: the flows from the old one are gone
