"""The live path at the camera's frame rate: the model beside the picture, every camera frame composited.

    camera ─▶ newest frame ─┬─▶ segmentation worker (whenever free) ─▶ newest mask + the frame it was computed on
                            └─▶ every frame: carry that mask to this frame ─▶ refine on it ─▶ composite ─▶ sinks

On a 2-core CPU the model makes ~8 masks a second while the camera delivers 30 frames. Instead of making each frame
wait for the model (``u2live webcam --sync``, :func:`u2live.pipeline.run_pipeline`), a worker thread runs the model
on the newest frame whenever it is free, and the main thread renders every frame the source delivers with the newest
mask, carried by optical flow (:mod:`u2live.flow`, at reduced resolution) from the frame it was computed on to this
frame, then refined on this frame's own full-resolution pixels. The temporal smoother sees each new mask once, at
the timestamp of its frame, on the main thread (its state needs no locks).

Under ``--size auto`` the segmenter is a :class:`u2live.adaptive.AdaptiveSegmenter`: after each mask the worker tells
it, and it steps the model's size down (or back up) when the refresh rate drifts from the target.

Threads: the source's reader, the segmentation worker, the main thread and the runner's writer. One stop event ends
them all; every wait has a timeout and re-checks it. A worker error stops the run and is re-raised in the caller's
thread. On the way out the worker is joined, the writer drains and is joined, and sinks, stages and source are
closed (also after Ctrl-C), with the writer and closing code of :mod:`u2live.runner`.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

from .adaptive import AdaptiveSegmenter
from .backends import graph_build
from .backends.base import Segmenter
from .flow import DEFAULT_SIZE, Flow, FlowEstimator
from .frame import Frame
from .handoff import POLL_SECONDS
from .kernels import Kernels
from .pipeline import Stages
from .runner import DRAIN_SECONDS, Writer, batches, run_with_writer
from .stats import PipelineStats


class MaskWorker:
    """The segmentation thread: whenever free, runs the model on the newest frame offered and publishes the mask
    with that frame. ``offer`` never blocks; ``take`` returns the newest mask not taken yet, if any."""

    def __init__(self, segmenter: Segmenter, kernels: Kernels, stats: PipelineStats, stop: threading.Event):
        self.segmenter, self.kernels = segmenter, kernels
        self.stats = stats
        self.stop = stop  # the run's: set by anyone, the worker ends
        self._quit = threading.Event()  # this worker's own: the run is ending normally
        self._cond = threading.Condition()
        self._offered: Frame | None = None
        self._done: tuple | None = None  # (frame, its image where the frames are, its mask)
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="u2live-segmenter", daemon=True)

    def offer(self, frame: Frame) -> None:
        """``frame`` replaces any frame offered before that the worker has not started on."""
        with self._cond:
            self._offered = frame
            self._cond.notify_all()

    def take(self, *, wait: bool = False) -> tuple | None:
        """(frame, its image where the frames are [H, W, 3] uint8, its mask [S, S]) for the newest mask not taken
        yet, or None. ``wait``: block until there is one or the run stops. Re-raises the worker's error."""
        with self._cond:
            while wait and self._done is None and not self._ended():
                self._cond.wait(POLL_SECONDS)
            done, self._done = self._done, None
        self.check()
        return done

    def check(self) -> None:
        """Re-raise (once) the error that ended the worker."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """End the worker and join it (a model call under way is finished first; a graph being built for the
        next rung is not: the run is over)."""
        self._quit.set()
        graph_build.cancel_all()
        with self._cond:
            self._cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(DRAIN_SECONDS)

    def _ended(self) -> bool:
        return self.stop.is_set() or self._quit.is_set() or self._error is not None

    def _run(self) -> None:
        kernels = self.kernels
        if not kernels.on_gpu:
            yield_to_the_picture()
        try:
            with kernels.inference():  # thread-local in torch: the worker sets its own
                while (frame := self._next()) is not None:
                    began = time.perf_counter()
                    with self.stats.stage("preprocess"):
                        image = kernels.upload([frame.image])  # [1, H, W, 3] uint8
                    mask = self.segmenter.predict_frames(image, self.stats)[0]  # [S, S]
                    with self._cond:
                        self._done = (frame, image[0], mask)
                        self._cond.notify_all()
                    if isinstance(self.segmenter, AdaptiveSegmenter):  # --size auto: may change the model here,
                        now = time.perf_counter()  # between two masks
                        self.segmenter.refreshed(now, now - began)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            if isinstance(err, graph_build.BuildStopped) and self._quit.is_set():
                return  # the next size's graph, stopped by close(): the run is over, nothing went wrong
            with self._cond:
                self._error = err
                self._cond.notify_all()
            self.stop.set()

    def _next(self) -> Frame | None:
        """The newest frame offered (waiting for one); None once the run ends."""
        with self._cond:
            while self._offered is None:
                if self._ended():
                    return None
                self._cond.wait(POLL_SECONDS)
            frame, self._offered = self._offered, None
        return None if self._ended() else frame


#: how much lower than the rest of the process the model's thread runs on the CPU (Linux nice levels)
WORKER_NICENESS = 5


def yield_to_the_picture() -> None:
    """Lower the calling thread's CPU priority by WORKER_NICENESS (Linux: a thread is a task with its own nice
    level; lowering needs no privilege): where the cores are short, the camera's frames (read, render, write) are
    served first and the model takes what is left; masks come a little less often, but no frame waits for them.
    Elsewhere (no per-thread priority) nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS))
    except OSError:
        pass


def below_the_picture(make: Callable[[], object]):
    """``make()`` run in a thread below the picture's CPU priority (:func:`yield_to_the_picture`); its result
    returned, its error raised here. A model loaded this way yields to the picture on every thread it computes on:
    threads start with their creator's priority, and ONNX Runtime starts its compute threads when it loads a model
    (the segmentation worker lowers only its own)."""
    done: dict = {}
    # its own event, not Thread.join: on Python 3.11 a join cut short by Ctrl-C can leave the thread looking ended
    finished = threading.Event()

    def load() -> None:
        yield_to_the_picture()
        try:
            done["result"] = make()
        except BaseException as err:  # noqa: BLE001 - raised in the caller's thread
            done["error"] = err
        finally:
            finished.set()

    threading.Thread(target=load, name="u2live-model-loader", daemon=True).start()
    try:
        while not finished.wait(POLL_SECONDS):  # timed: Ctrl-C reaches the caller
            pass
    except BaseException:
        # Ctrl-C (or SIGTERM): a model call under way cannot be cut short, and a process that ends while one runs
        # in another thread aborts in the runtime's code (ONNX Runtime: "terminate called", exit 134). So the load
        # finishes first (a second Ctrl-C still quits at once, u2live.signals), and what it made is closed. A graph
        # being built is not waited for: its child process ends now (u2live.backends.graph_build).
        graph_build.cancel_all()
        finished.wait()
        if "result" in done:
            done["result"].close()
        raise
    if "error" in done:
        raise done["error"]
    return done["result"]


#: flows the carrier keeps, from its mask's frame to the frames it showed last: the next mask is made on one of the
#: few newest frames offered, and its temporal step needs the motion to it (:meth:`MaskCarrier.motion_to`)
KEPT_FLOWS = 8


class MaskCarrier:
    """The newest (smoothed) mask and the frame it was computed on. ``to(frame)`` carries it to a later frame along
    the optical flow between the two frames; as it is when warping is off, on its own frame, or after a scene cut
    (nothing in the old frame tells where the new one's subject is).

    The flows it computed stay until the next mask (the last KEPT_FLOWS): when that mask comes, made on a frame
    already shown, the temporal state's step needs the motion from this mask's frame to that one, the very pair of
    frames computed then (:meth:`motion_to`), so each live frame costs one flow, not two (when masks come at the
    camera's rate, nearly every step)."""

    def __init__(self, *, warp: bool = True, flow_size: int = DEFAULT_SIZE):
        self.flow = FlowEstimator(flow_size) if warp else None
        self.mask = None  # [S, S], where the frames are
        self.made_on: Frame | None = None
        self._gray = None  # made_on's picture, prepared for the flow
        self._flows: dict[int, Flow] = {}  # frame index -> the flow from made_on to it

    def hold(self, mask, frame: Frame) -> None:
        self.mask, self.made_on = mask, frame
        self._gray = self.flow.prepare(frame.image) if self.flow is not None else None
        self._flows = {}

    def to(self, frame: Frame):
        if self.flow is None or frame.index == self.made_on.index:
            return self.mask
        # no forward-backward check: where the flow is unsure there is no better mask to take anyway
        flow = self.flow.flow(self._gray, frame.image, check=False)
        self._flows[frame.index] = flow
        if len(self._flows) > KEPT_FLOWS:
            del self._flows[next(iter(self._flows))]  # the oldest
        return self.mask if flow.scene_cut else flow.warp(self.mask)

    def motion_to(self, frame: Frame) -> Flow | None:
        """The flow from the held mask's frame to ``frame``, if it was computed showing ``frame``; else None."""
        return self._flows.get(frame.index)


def run_live(source, segmenter: Segmenter, stages: Stages, sinks: Sequence, *, warp: bool = True,
             max_frames: int | None = None, stats: PipelineStats | None = None,
             stop_event: threading.Event | None = None, on_frame: Callable[[Frame], None] | None = None,
             queue_size: int = 2) -> PipelineStats:
    """Render every frame of the live ``source`` with the newest mask (see the module docstring) into every sink
    until the source ends, ``max_frames`` frames are out, or ``stop_event`` is set.

    Like :func:`u2live.pipeline.run_pipeline`: takes ownership of ``source``, ``stages`` and ``sinks`` (all closed
    on return, on error and on Ctrl-C), re-raises a worker's or the writer's error here, calls ``on_frame`` from
    the writer thread, returns the filled-in ``stats``. ``warp``: carry masks along the motion (else shown as
    they are). The camera's rate in ``stats`` is the caller's to set (:func:`u2live.job.run_frames` does, for
    either live loop)."""
    stats = stats if stats is not None else PipelineStats()
    stats.backend = stats.backend or segmenter.describe()
    writer = Writer(sinks, stats, stop_event or threading.Event(), on_frame, max(1, queue_size))
    worker = MaskWorker(segmenter, stages.kernels, stats, writer.stop)

    def main_loop() -> None:
        worker.thread.start()
        try:
            with stages.kernels.inference():
                _render_every_frame(source, worker, stages, writer, MaskCarrier(warp=warp), max_frames, stats)
        finally:
            worker.close()  # also after an error or Ctrl-C in this thread
            if isinstance(segmenter, AdaptiveSegmenter) and segmenter.switches:  # the summary names the model
                moves = " -> ".join(map(str, [segmenter.started_at, *segmenter.switches]))  # it ended with
                stats.backend = f"{segmenter.describe()} (--size auto: {moves})"
        worker.check()  # the worker's error, once it has ended

    return run_with_writer(main_loop, writer, [*sinks, stages, source])


def _render_every_frame(source, worker: MaskWorker, stages: Stages, writer: Writer, carrier: MaskCarrier,
                        max_frames: int | None, stats: PipelineStats) -> None:
    """The main thread's loop: offer each frame to the worker, take a new mask when there is one (waiting only for
    the first), carry the newest mask to this frame, refine and composite, hand the frame to the writer."""
    upload = stages.kernels.upload
    for (frame,) in batches(source, 1, max_frames, stats, writer.stop):
        worker.offer(frame)
        fresh = worker.take(wait=carrier.mask is None)
        if fresh is not None:
            stats.masks_made()  # counted when taken: the refresh rate of the masks shown
            made_on, image, mask = fresh  # the temporal state steps from the held mask's frame to made_on:
            shared = carrier.motion_to(made_on)  # a pair of frames the carrier may have computed already
            carrier.hold(stages.smooth(image, mask, made_on.pts, stats, flow=shared), made_on)
        if carrier.mask is None:  # stopped before the first mask
            return
        with stats.stage("warp"):
            mask = carrier.to(frame)
        with stats.stage("preprocess"):
            image = upload([frame.image])[0]  # [H, W, 3] uint8
        out = stages.picture(image, mask, frame.pts, stats)
        stats.mask_shown(frame.pts - carrier.made_on.pts)
        if not writer.put(Frame(image=out, pts=frame.pts, index=frame.index, captured_at=frame.captured_at)):
            return
