"""Adaptive quality: the ladder, rates predicted by pixel count, the governor's moves down and back up (by the
model's own time per mask, jumping to the best rung predicted), ``webcam --size auto`` starting at once at the size
remembered for this machine (the smallest the first time) and remembering where it settled, and the live model's
threads (every core, all below the picture's priority)."""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from u2live.adaptive import AdaptiveSegmenter, RefreshGovernor, Setting, ladder, predict_hz
from u2live.backends.onnx_runtime import cpu_threads
from u2live.spec import ModelSpec

RUNGS = ladder((320, 256, 192, 160), ["int8"])


def test_ladder_is_larger_size_first_then_higher_precision():
    rungs = ladder((256, 320), ["int8", "fp32"])
    assert [str(r) for r in rungs] == ["fp32 320x320", "int8 320x320", "fp32 256x256", "int8 256x256"]


def test_prediction_scales_with_pixel_count_within_a_precision():
    measured = {Setting(320, "int8"): 8.0}
    assert predict_hz(Setting(160, "int8"), measured) == pytest.approx(32.0)
    assert predict_hz(Setting(160, "fp32"), measured) is None


def feed(governor: RefreshGovernor, hz: float, seconds: float, start: float, busy: float | None = None):
    """Masks at ``hz`` for ``seconds`` from ``start``, each taking ``busy`` seconds of model time (None: not
    told); returns ([(time, rung switched to)], the time reached)."""
    switches, t = [], start
    while t < start + seconds:
        t += 1.0 / hz
        step = governor.refreshed(t, busy)
        if step is not None:
            switches.append((round(t, 2), step))
    return switches, t


def test_governor_steps_down_when_the_rate_drifts_below_and_back_up_when_there_is_room():
    governor = RefreshGovernor(RUNGS, Setting(256, "int8"), window=2.0)
    steady, t = feed(governor, 9.0, 10.0, 0.0)
    assert steady == []  # on target: stays (9 Hz would not keep 8 Hz x 1.25 one rung up)
    down, t = feed(governor, 5.0, 2.5, t)  # the machine got busy
    assert [s for _, s in down] == [Setting(192, "int8")] and down[0][0] <= 10.0 + 2.0  # 8.9 Hz predicted there
    up, t = feed(governor, 25.0, 8.0, t)  # quiet again: 25 Hz at 192 predicts 14 Hz at 256
    assert [s for _, s in up] == [Setting(256, "int8")]
    assert up[0][0] >= down[0][0] + 6.0  # only after three windows on the new rung


def test_governor_counts_the_models_own_time_so_a_fast_model_jumps_to_the_best_rung_in_one_move():
    """At 160 the model needs 1/60 s a mask but the camera gives 30 frames a second: by its own time it could
    make 60 masks/s, 15 at 320 (>= 8 Hz x 1.25), so one move after one window when exploring (the start rung was
    never measured); counted by the masks shown (30/s) it would have stopped at 256."""
    governor = RefreshGovernor(RUNGS, Setting(160, "int8"), window=2.0, explore=True)
    switches = feed(governor, 30.0, 6.0, 0.0, busy=1 / 60)[0]
    assert [s for _, s in switches] == [Setting(320, "int8")] and switches[0][0] <= 2.1
    shown = RefreshGovernor(RUNGS, Setting(160, "int8"), window=2.0, explore=True)
    assert [s for _, s in feed(shown, 30.0, 2.5, 0.0)[0]] == [Setting(256, "int8")]


def test_a_slow_camera_is_no_reason_to_step_down_and_a_slow_model_jumps_down_to_what_it_can_keep():
    governor = RefreshGovernor(RUNGS, Setting(256, "int8"), window=2.0)
    assert feed(governor, 5.0, 10.0, 0.0, busy=1 / 9)[0] == []  # 5 frames/s in, 9 masks/s possible: on target
    slow = RefreshGovernor(RUNGS, Setting(320, "int8"), window=2.0)
    switches = feed(slow, 3.0, 3.0, 0.0, busy=1 / 3)[0]  # 3 Hz at 320: 8.3 predicted at 192, 5.3 at 256
    assert [s for _, s in switches] == [Setting(192, "int8")]


class Model:
    """Stand-in for a loaded model at one rung: only its size, precision and closing matter here."""

    name, device, model, weights = "stand-in", None, "u2netp", None

    def __init__(self, setting):
        self.size, self.precision, self.closed = setting.size, setting.precision, False

    def close(self):
        self.closed = True


def test_the_adaptive_segmenter_remembers_each_rung_it_moves_to_and_the_one_it_holds_at_the_end():
    remembered, clock = [], [0.0]
    governor = RefreshGovernor(RUNGS, Setting(160, "int8"), window=1.0, explore=True)
    model = AdaptiveSegmenter(Model(Setting(160, "int8")), governor, Model, log=lambda line: None,
                              clock=lambda: clock[0], remember=lambda setting, hz: remembered.append((setting, hz)))
    for t in np.arange(0.02, 1.2, 0.02):  # 50 masks/s at 160: 12.5 predicted at 320
        clock[0] = t
        model.refreshed(t, 0.02)
    assert model.switches == [Setting(320, "int8")] and remembered[0][0] == Setting(320, "int8")
    assert remembered[0][1] == pytest.approx(12.5)
    for t in np.arange(1.3, 3.0, 0.1):  # 10 masks/s at 320: stays
        clock[0] = t
        model.refreshed(t, 0.1)
    model.close()
    assert remembered[-1][0] == Setting(320, "int8") and remembered[-1][1] == pytest.approx(10.0)


def test_size_memory_is_per_machine_and_choices_and_starts_small_when_empty(tmp_path):
    from u2live.size_memory import SizeMemory, machine

    memory = SizeMemory("u2netp", "auto", None, directory=tmp_path)
    assert memory.recalled is None and memory.start((320, 224, 160)) == 160
    memory.remember(Setting(224, "int8"), 9.46)
    again = SizeMemory("u2netp", "auto", None, directory=tmp_path)
    assert again.recalled["size"] == 224 and again.recalled["hz"] == 9.5 and again.start((320, 224, 160)) == 224
    assert again.start((320, 160)) == 160  # a size no longer on the ladder is not used
    assert SizeMemory("u2netp", "cpu", "fp32", directory=tmp_path).recalled is None
    assert SizeMemory("u2net", "auto", None, directory=tmp_path).recalled is None
    assert machine() in again.key and "cores" in machine()


def test_webcam_size_auto_starts_at_once_small_the_first_time_then_where_it_settled(tmp_path, monkeypatch, caplog):
    """The remembered size is reused: no measurement before the first frame, from shipped graphs (no export)."""
    caplog.set_level(logging.INFO, logger="u2live")
    from u2live.job import open_segmenter
    from u2live.size_memory import SizeMemory

    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path))
    model = ModelSpec(model="u2netp", size="auto", backend="cpu")
    with open_segmenter(model, live=True) as first:
        assert (first.size, first.precision) == (160, "int8")
    assert "--size auto: int8 160x160 to start" in caplog.text
    caplog.clear()
    SizeMemory("u2netp", "cpu", None).remember(Setting(224, "int8"), 9.1)
    with open_segmenter(model, live=True) as second:
        assert second.size == 224 and second.governor.current == Setting(224, "int8")
    err = caplog.text
    assert "--size auto: int8 224x224, where it settled on this machine" in err and "9.1 masks/s" in err
    assert "exporting" not in err and "calibrating" not in err


def test_a_live_cpu_model_computes_on_every_core_as_offline():
    from u2live.job import open_segmenter

    model = ModelSpec(model="u2netp", size=64, backend="cpu", precision="fp32")
    with open_segmenter(model, live=True) as live, open_segmenter(model, live=False) as offline:
        assert live.threads == offline.threads == cpu_threads()


def _nice_by_thread() -> dict[int, int]:
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = int(fields[16])  # stat field 19, nice
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread CPU priority is Linux's")
def test_every_compute_thread_of_a_live_model_runs_below_the_picture():
    """ONNX Runtime starts its compute threads when it loads a model; a live model is loaded below the picture's
    priority, so they start there (the worker lowering only its own thread left the others at the picture's)."""
    from u2live.job import open_segmenter
    from u2live.live import WORKER_NICENESS

    main = _nice_by_thread()
    model = ModelSpec(model="u2netp", size=64, backend="cpu", precision="fp32")
    with open_segmenter(model, live=True) as segmenter:
        segmenter.infer(np.zeros((1, 3, 64, 64), np.float32))
        started = {tid: nice for tid, nice in _nice_by_thread().items() if tid not in main}
    if cpu_threads() < 2:
        pytest.skip("one core: ONNX Runtime starts no compute thread of its own")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert started and set(started.values()) == {min(19, mine + WORKER_NICENESS)}, started
    assert _nice_by_thread()[threading.get_native_id()] == mine  # the caller's own is unchanged

