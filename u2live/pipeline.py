"""The offline pipeline: Source -> Segmenter -> Stages (smoothing -> refine -> Background/Compositor) -> Sinks,
every frame with its own mask, in batches of frames.

The threads and the closing are :mod:`u2live.runner`'s: the source decodes in its own thread(s), this module's loop
runs the model and the stages in the calling thread (on a GPU the stages run in one render thread beside it; either
way one thread owns the temporal state, which needs no locks), and the runner's writer thread hands finished frames
to every sink.

The pixel path is the run's stage kernels (:mod:`u2live.kernels`), chosen once from the segmenter's device: numpy
and OpenCV on the CPU (no copy of a frame, no torch), torch on a GPU, where a frame goes up once as uint8 (through
page-locked memory, a non-blocking copy), the finished frame comes down once, and nothing waits for the device per
frame (:func:`_process_overlapped`).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .backends.base import Segmenter
from .backgrounds import BackgroundSpec
from .frame import Frame
from .kernels import kernels_for
from .options import MODES
from .runner import QueueThread, Writer, batches, run_with_writer
from .smoothing import Smoother
from .stats import PipelineStats


def default_batch(segmenter: Segmenter) -> int:
    """Frames per model call for offline work: batches fill a GPU; on the CPU one frame at a time keeps memory low
    (batching there was not measured to help on our 2-core machine, whose timings were too noisy to tell)."""
    return 8 if str(segmenter.device or "cpu").startswith("cuda") else 1


@dataclass
class InFlight:
    """A batch whose model has been launched on a GPU: its frames (host pictures, pts), and their pictures and
    masks on the device."""
    frames: Sequence[Frame]
    images: object
    masks: object


class Stages:
    """What happens to a frame after the model: temporal smoothing (:meth:`smooth`), then :meth:`picture`:
    full-resolution refinement and the output picture. :meth:`render` is both.

    ``mode`` is ``composite`` (the frame over ``background``, or RGBA when the background spec is transparent) or
    ``matte`` (the grayscale mask). The background is opened on the first frame, at that frame's size, and reopened
    if the size changes (a camera may deliver another size than it was asked for). ``device`` is where the frames
    are (the segmenter's): it chooses the stage kernels (:attr:`kernels`) once; ``kernels`` gives them instead (the
    GPU's torch kernels on CPU tensors, to check them where there is no GPU).
    """

    def __init__(self, *, mode: str = "composite", smoother: Smoother | None = None,
                 background: BackgroundSpec | None = None, device=None, kernels=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "composite" and background is None:
            raise ValueError("composite mode needs a background spec (u2live.backgrounds.parse_background)")
        self.mode = mode
        self.kernels = kernels or kernels_for(device)
        self.smoother = self.kernels.smoother(smoother)
        self.background_spec = background
        self._background = None
        self._background_size: tuple[int, int] | None = None

    @property
    def writes_rgba(self) -> bool:
        """True when the output frames are RGBA (a transparent background in composite mode)."""
        return self.mode == "composite" and self.background_spec.transparent

    def render(self, image, mask, pts: float, stats: PipelineStats) -> np.ndarray:
        """[H, W, 3] uint8 frame and its [S, S] mask on the device -> the finished [H, W, 3|4] uint8 numpy frame."""
        return self.picture(image, self.smooth(image, mask, pts, stats), pts, stats)

    def start_batch(self, frames: Sequence[Frame], images, masks) -> InFlight:
        """A batch on a GPU, its model launched: the smoother starts on the frames' motion (on the host, while the
        GPU runs the model). :meth:`render_started` goes on with it."""
        if hasattr(self.smoother, "look_ahead"):
            self.smoother.look_ahead([frame.image for frame in frames])
        return InFlight(frames, images, masks)

    def render_started(self, batch: InFlight, stats: PipelineStats):
        """Smoothing (each frame in turn, handed its host picture), refinement (the whole batch at once) and the
        pictures launched on the GPU for a :meth:`start_batch` batch; the finished frames start down to host memory
        (their ``wait()`` gives them)."""
        kernels, frames = self.kernels, batch.frames
        smoothed = kernels.stack([self.smooth(f.image, batch.masks[i], f.pts, stats) for i, f in enumerate(frames)])
        with stats.stage("refine"):
            alphas = kernels.refine_batch(smoothed, batch.images)
        with stats.stage("composite"):
            pictures = [self._draw(batch.images[i], alphas[i], f.pts) for i, f in enumerate(frames)]
        return kernels.download(kernels.stack(pictures))

    def smooth(self, image, mask, pts: float, stats: PipelineStats, flow=None):
        """The temporal smoother's answer for the model's ``mask`` of ``image`` at ``pts`` (the mask itself when
        smoothing is off); ``flow``: the motion since the smoother's last frame, where already computed."""
        with stats.stage("smoothing"):
            if self.smoother is not None:
                mask = self.smoother.update(mask, pts, image=image, flow=flow)
        return mask

    def picture(self, image, mask, pts: float, stats: PipelineStats) -> np.ndarray:
        """The output picture: ``mask`` (already smoothed) refined on ``image`` to a full-resolution alpha
        (``refine``), then the frame composited, the matte or the RGBA frame made from it (``composite``)."""
        with stats.stage("refine"):
            alpha = self.kernels.refine(mask, image)
        with stats.stage("composite"):
            return self.kernels.to_host(self._draw(image, alpha, pts))  # the one download

    def _draw(self, image, alpha, pts: float):
        """The output picture from the frame and its [H, W] alpha."""
        if self.mode == "matte":
            return self.kernels.matte(alpha)
        if self.writes_rgba:
            return self.kernels.rgba(image, alpha)
        background = self._open_background(image.shape[1], image.shape[0])
        return self.kernels.composite(image, background.render(image, alpha, pts), alpha)

    def _open_background(self, width: int, height: int):
        if self._background is None or self._background_size != (width, height):
            self._close_background()
            self._background = self.background_spec.open(width, height, self.kernels)
            self._background_size = (width, height)
        return self._background

    def close(self) -> None:
        self._close_background()
        if hasattr(self.smoother, "close"):  # a GPU smoother's look-ahead threads
            self.smoother.close()

    def _close_background(self) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.close()


def run_pipeline(source, segmenter: Segmenter, stages: Stages, sinks: Sequence, *, batch: int = 1,
                 max_frames: int | None = None, stats: PipelineStats | None = None,
                 stop_event: threading.Event | None = None, on_frame: Callable[[Frame], None] | None = None,
                 queue_size: int = 8) -> PipelineStats:
    """Run frames from ``source`` through the model and ``stages`` into every sink until the source ends,
    ``max_frames`` frames are done, or ``stop_event`` is set (e.g. by a preview window's ``q``).

    Takes ownership of ``source``, ``stages`` and ``sinks``: all are closed on return, on error and on Ctrl-C.
    An error in the writer thread (a sink that fails) stops the run and is re-raised here. ``on_frame`` is called
    from the writer thread after each frame reached every sink (progress bars). Returns the filled-in ``stats``.
    """
    stats = stats if stats is not None else PipelineStats()
    stats.backend = stats.backend or segmenter.describe()
    writer = Writer(sinks, stats, stop_event or threading.Event(), on_frame, max(1, queue_size))
    return run_with_writer(lambda: _process(source, segmenter, stages, writer, max(1, batch), max_frames, stats),
                           writer, [*sinks, stages, source])


def _process(source, segmenter: Segmenter, stages: Stages, writer: Writer, batch: int,
             max_frames: int | None, stats: PipelineStats) -> None:
    """The main thread's loop: batches of frames through the model, each frame through the stages, to the writer.
    On a GPU :func:`_process_overlapped` instead."""
    kernels = stages.kernels
    with kernels.inference():
        if kernels.on_gpu:
            _process_overlapped(source, segmenter, stages, writer, batch, max_frames, stats)
            return
        for frames in batches(source, batch, max_frames, stats, writer.stop):
            with stats.stage("preprocess"):
                images = kernels.upload([frame.image for frame in frames])  # [N, H, W, 3] uint8
            masks = segmenter.predict_frames(images, stats)  # [N, S, S] float32, both stages timed
            stats.masks_made(len(frames))
            for i, frame in enumerate(frames):
                if not _hand_over(frame, stages.render(images[i], masks[i], frame.pts, stats), writer, stats):
                    return


def _process_overlapped(source, segmenter: Segmenter, stages: Stages, writer: Writer, batch: int,
                        max_frames: int | None, stats: PipelineStats) -> None:
    """The main thread's loop on a GPU: it reads and uploads each batch and launches its model; a
    :class:`_Renderer` thread smooths, renders and hands over the batches before it. The CPU's two pieces of work
    per frame (reading and uploading; launching the stages' kernels) run side by side, and the GPU works while
    both do."""
    renderer = _Renderer(stages, writer, stats)
    renderer.thread.start()
    try:
        for frames in batches(source, batch, max_frames, stats, writer.stop):
            with stats.stage("preprocess"):
                images = stages.kernels.upload([frame.image for frame in frames])
            started = stages.start_batch(frames, images, segmenter.predict_frames(images, stats))
            stats.masks_made(len(frames))
            if not renderer.put(started):
                return
        renderer.finish()
    finally:
        renderer.close()


class _Renderer(QueueThread):
    """The GPU loop's second thread, three batches in flight: given batch ``b`` (its model launched), it launches
    the smoothing and rendering of batch ``b - 1`` (whose frames' motion was computed meanwhile), then hands batch
    ``b - 2``'s finished frames (come down meanwhile) to the writer; neither the CPU nor the GPU waits for the
    other per frame (one frame at a time, each waiting for the last, kept the GPU idle most of the time)."""

    name = "u2live-render"

    def __init__(self, stages: Stages, writer: Writer, stats: PipelineStats):
        super().__init__(writer.stop, queue_size=1)
        self.stages, self.writer, self.stats = stages, writer, stats
        self.modelled: InFlight | None = None  # batch b - 1
        self.rendered: tuple[Sequence[Frame], object] | None = None  # batch b - 2: frames, their download

    def _run(self) -> None:
        with self.stages.kernels.inference():  # per thread
            super()._run()

    def handle(self, started: InFlight | None) -> None:
        modelled = self.modelled
        done = (modelled.frames, self.stages.render_started(modelled, self.stats)) if modelled is not None else None
        if self.rendered is not None and not _hand_over_batch(*self.rendered, self.writer, self.stats):
            return  # stopping
        self.modelled, self.rendered = started, done

    def end(self) -> None:
        self.handle(None)  # the last two batches are still in flight
        self.handle(None)


def _hand_over_batch(frames: Sequence[Frame], download, writer: Writer, stats: PipelineStats) -> bool:
    with stats.stage("composite"):
        pictures = download.wait()  # [N, H, W, C] uint8
    return all(_hand_over(frame, picture, writer, stats) for frame, picture in zip(frames, pictures))


def _hand_over(frame: Frame, picture: np.ndarray, writer: Writer, stats: PipelineStats) -> bool:
    """The finished picture of ``frame`` to the writer; False once the run is stopping."""
    stats.mask_shown(0.0)  # each frame's own mask
    return writer.put(Frame(image=picture, pts=frame.pts, index=frame.index, captured_at=frame.captured_at))
