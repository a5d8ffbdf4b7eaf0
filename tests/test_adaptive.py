"""Adaptive quality: the ladder, the start-up choice (rates predicted by pixel count, slow rungs skipped, a CPU
model's rate predicted beside the picture), the governor's steps down and back up, ``webcam --size auto`` measuring
the real model, and the live model's threads (every core, all below the picture's priority)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from u2live.adaptive import (HEADROOM, PICTURE_CORES, TARGET_HZ, RefreshGovernor, Setting, beside_the_picture, choose,
                             ladder, predict_hz)
from u2live.backends.onnx_runtime import cpu_threads

REPO = Path(__file__).resolve().parent.parent
RUNGS = ladder((320, 256, 192, 160), ["int8"])


def model_rate(base_hz: float):
    """A model whose cost grows with the pixel count: ``base_hz`` at 320 (what the real one does, to within
    scheduling noise); records what was measured."""
    seen = []

    def measure(setting: Setting) -> float:
        seen.append(setting)
        return base_hz * (320 / setting.size) ** 2
    return measure, seen


def test_ladder_is_larger_size_first_then_higher_precision():
    rungs = ladder((256, 320), ["int8", "fp32"])
    assert [str(r) for r in rungs] == ["fp32 320x320", "int8 320x320", "fp32 256x256", "int8 256x256"]


def test_choose_takes_the_largest_fast_enough_and_skips_rungs_predicted_too_slow():
    measure, seen = model_rate(4.0)  # 320: 4 Hz, 256: 6.25, 192: 11.1, 160: 16
    setting, measured, why = choose(RUNGS, measure)
    assert setting == Setting(192, "int8") and measured[setting] >= TARGET_HZ * HEADROOM
    assert seen == [Setting(320, "int8"), Setting(192, "int8")]  # 256 predicted at 6.25 Hz: never loaded
    assert why.startswith("picked int8 192x192") and "320x320 4.0 Hz" in why


def test_choose_keeps_the_best_when_it_is_fast_enough_and_the_fastest_when_none_is():
    fast, seen = model_rate(20.0)
    assert choose(RUNGS, fast)[0] == Setting(320, "int8") and len(seen) == 1
    slow, _ = model_rate(0.5)
    setting, measured, why = choose(RUNGS, slow)
    assert setting == Setting(160, "int8") and "none reached" in why and len(measured) == 2  # 320, then 160
    assert why.startswith("picked int8 160x160, the fastest setting measured: none reached 10.0 Hz")


def test_choose_says_the_last_rung_reached_the_rate_when_it_did_against_its_prediction():
    """320 at 1.9 Hz predicts 160 at 7.6 Hz, under the 8 Hz target, so the loop does not load it; measured as the
    last resort, 160 makes 15.3 Hz: the line must not say that none reached the rate (it once said both)."""
    rates = {320: 1.9, 256: 3.0, 192: 5.0, 160: 15.3}
    setting, measured, why = choose(RUNGS, lambda s: rates[s.size])
    assert setting == Setting(160, "int8") and list(measured) == [Setting(320, "int8"), Setting(160, "int8")]
    assert why.startswith("picked int8 160x160: it reached 10.0 Hz") and "none reached" not in why
    assert why.endswith("measured beside the picture: int8 320x320 1.9 Hz, int8 160x160 15.3 Hz)")


def test_prediction_scales_with_pixel_count_within_a_precision():
    measured = {Setting(320, "int8"): 8.0}
    assert predict_hz(Setting(160, "int8"), measured) == pytest.approx(32.0)
    assert predict_hz(Setting(160, "fp32"), measured) is None


def feed(governor: RefreshGovernor, hz: float, seconds: float, start: float) -> tuple[list, float]:
    switches, t = [], start
    while t < start + seconds:
        t += 1.0 / hz
        step = governor.refreshed(t)
        if step is not None:
            switches.append((round(t, 2), step))
    return switches, t


def test_governor_steps_down_when_the_rate_drifts_below_and_back_up_when_there_is_room():
    governor = RefreshGovernor(RUNGS, Setting(256, "int8"), window=2.0)
    steady, t = feed(governor, 9.0, 10.0, 0.0)
    assert steady == []  # on target: stays (9 Hz would not keep 8 Hz x 1.25 one rung up)
    down, t = feed(governor, 5.0, 2.5, t)  # the machine got busy
    assert [s for _, s in down] == [Setting(192, "int8")] and down[0][0] <= 10.0 + 2.0
    up, t = feed(governor, 25.0, 8.0, t)  # quiet again: 25 Hz at 192 predicts 14 Hz at 256
    assert [s for _, s in up] == [Setting(256, "int8")]
    assert up[0][0] >= down[0][0] + 6.0  # only after three windows on the new rung


def test_governor_predicts_another_precision_from_start_up_measurements():
    rungs = ladder((320,), ["fp32", "int8"])
    measured = {Setting(320, "fp32"): 4.0, Setting(320, "int8"): 12.0}
    governor = RefreshGovernor(rungs, Setting(320, "int8"), measured=measured, window=1.0)
    assert feed(governor, 12.0, 5.0, 0.0)[0] == []  # fp32 predicted at 4 Hz: stays on int8
    governor = RefreshGovernor(rungs, Setting(320, "int8"), measured=measured, window=1.0)
    assert [s for _, s in feed(governor, 36.0, 5.0, 0.0)[0]] == [Setting(320, "fp32")]  # 3x faster now: 12 Hz


@pytest.mark.slow
def test_webcam_size_auto_measures_the_model_and_says_what_it_picked(write_clip, tmp_path):
    clip = write_clip(tmp_path / "in.mp4", frames=4)
    done = subprocess.run([sys.executable, "-m", "u2live", "webcam", "--source", str(clip), "--no-vcam", "-o",
                           str(tmp_path / "out.mp4"), "--backend", "torch", "--max-frames", "2", "-q"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "--size/--precision auto -> picked" in line]
    assert len(lines) == 1 and "fp32 320x320" in lines[0] and " Hz" in lines[0], done.stderr


def test_a_cpu_model_measured_alone_is_predicted_beside_the_picture():
    """On 2 cores the picture takes PICTURE_CORES of them: a model measured alone at 10 Hz on both gets the rest."""
    assert beside_the_picture(10.0, cores=2) == pytest.approx(10.0 * (2 - PICTURE_CORES) / 2)
    assert beside_the_picture(10.0, cores=8) == pytest.approx(10.0 * (8 - PICTURE_CORES) / 8)
    assert beside_the_picture(10.0, cores=1) > 0


def test_size_auto_scales_a_cpu_models_rate_by_the_pictures_share_and_not_a_gpus(monkeypatch):
    from u2live import adaptive

    monkeypatch.setattr(adaptive, "measure_hz", lambda segmenter: 100.0)

    class Model:
        """Stand-in for a loaded model: only where it runs matters here (its rate is patched above)."""

        name = "stand-in"

        def __init__(self, device):
            self.device, self.closed = device, False

        def close(self):
            self.closed = True

    for device, expected in ((None, adaptive.beside_the_picture(100.0)), ("cuda:0", 100.0)):
        lines = []
        chosen = adaptive.choose_segmenter(lambda setting: Model(device), RUNGS, log=lines.append)
        assert f"int8 320x320 {expected:.1f} Hz" in lines[0] and "beside the picture" in lines[0]
        assert chosen.current.device == device


def test_a_live_cpu_model_computes_on_every_core_as_offline():
    from u2live.job import open_segmenter

    model = dict(weights=None, model="u2netp", size=64, backend="cpu", precision="fp32")
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
    model = dict(weights=None, model="u2netp", size=64, backend="cpu", precision="fp32")
    with open_segmenter(model, live=True) as segmenter:
        segmenter.infer(np.zeros((1, 3, 64, 64), np.float32))
        started = {tid: nice for tid, nice in _nice_by_thread().items() if tid not in main}
    if cpu_threads() < 2:
        pytest.skip("one core: ONNX Runtime starts no compute thread of its own")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert started and set(started.values()) == {min(19, mine + WORKER_NICENESS)}, started
    assert _nice_by_thread()[threading.get_native_id()] == mine  # the caller's own is unchanged

