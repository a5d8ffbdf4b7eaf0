"""The GPU's overlapped offline loop (three batches in flight: model, rendering, hand-over) writes the frames the
plain loop writes, in order, none lost at the end. Run here on the CPU, where both loops use the same kernels, so
any difference is the overlapping itself: order, the last batches, which picture each smoother step sees."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from u2live import backends
from u2live.backgrounds import parse_background
from u2live.kernels_torch import TorchKernels
from u2live.pipeline import Stages, _process, _process_overlapped
from u2live.runner import Writer
from u2live.smoothing import make_smoother
from u2live.sources import open_source
from u2live.stats import PipelineStats
from u2live.temporal_torch import TorchMotionSmoother


class Keep:
    def __init__(self):
        self.frames = []

    def write(self, frame):
        self.frames.append((frame.index, frame.image.copy()))


@pytest.fixture(scope="module")
def segmenter():
    with backends.create("cpu", model="u2netp", size=160, precision="int8", log=lambda line: None) as model:
        yield model


def _run(loop, megamind, segmenter, frames: int, batch: int, smoother=None, kernels=None):
    stats, sink = PipelineStats(), Keep()
    writer = Writer([sink], stats, threading.Event(), None, 64)
    stages = Stages(mode="composite", smoother=smoother or make_smoother("auto"), background=parse_background("blur"),
                    kernels=kernels)
    writer.thread.start()
    with open_source(str(megamind), live=False) as source:
        loop(source, segmenter, stages, writer, batch, frames, stats)
    writer.finish()
    stages.close()
    return sink.frames


@pytest.mark.parametrize("frames,batch", [(11, 4), (3, 4), (8, 4)])
def test_overlapped_loop_writes_what_the_plain_loop_writes(megamind, segmenter, frames, batch):
    plain = _run(_process, megamind, segmenter, frames, batch)
    overlapped = _run(_process_overlapped, megamind, segmenter, frames, batch)
    assert [i for i, _ in overlapped] == [i for i, _ in plain] == list(range(frames))
    for (_, a), (_, b) in zip(plain, overlapped):
        assert np.array_equal(a, b)


def test_the_gpu_smoother_looks_ahead_in_the_overlapped_loop(megamind, segmenter):
    """The GPU's temporal state (torch, here on the CPU, with the GPU's kernels) gets each frame's motion from its
    look-ahead threads in the overlapped loop and computes it on the spot in the plain one: the same frames either
    way."""
    plain = _run(_process, megamind, segmenter, 10, 4, TorchMotionSmoother(), TorchKernels("cpu"))
    overlapped = _run(_process_overlapped, megamind, segmenter, 10, 4, TorchMotionSmoother(), TorchKernels("cpu"))
    assert [i for i, _ in overlapped] == list(range(10))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, overlapped))


class BrokenStages(Stages):
    def render_started(self, batch, stats):
        raise RuntimeError("render failed")


def test_an_error_in_the_render_thread_reaches_the_caller(megamind, segmenter):
    stats = PipelineStats()
    writer = Writer([Keep()], stats, threading.Event(), None, 8)
    stages = BrokenStages(mode="composite", smoother=make_smoother("auto"), background=parse_background("blur"))
    writer.thread.start()
    with open_source(str(megamind), live=False) as source, pytest.raises(RuntimeError, match="render failed"):
        _process_overlapped(source, segmenter, stages, writer, 2, 12, stats)
    assert writer.stop.is_set()
    writer.close()
    stages.close()
