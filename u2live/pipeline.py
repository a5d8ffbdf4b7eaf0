"""The video pipeline: Source -> Segmenter -> Smoother -> refine -> Background/Compositor -> Sinks.

Threads only for I/O. The Source decodes or grabs in its own thread(s); the calling (main) thread runs the model,
smoothing, refinement and compositing, so temporal state needs no locks; one writer thread takes finished frames
from a bounded queue and hands each to every sink. One stop event ends everything: every blocking put and get has a
timeout and re-checks it. On the way out the stop event is set, the writer drains what is queued and is joined, the
sinks and the source are closed (also after Ctrl-C, so every file written so far plays), and a stored writer error
is re-raised in the caller's thread.

The pixel path is torch on the segmenter's device: a frame goes up once as uint8 (zero copy on the CPU; through a
pinned buffer allocated once and a non-blocking copy on a GPU) and the finished frame comes down once.
"""
from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from .backends.base import Segmenter
from .backgrounds import BackgroundSpec
from .compositor import composite, matte, rgba
from .frame import Frame
from .handoff import END, POLL_SECONDS, put_until_stopped
from .options import MODES
from .refine import refine_mask
from .smoothing import Smoother
from .stats import PipelineStats

DRAIN_SECONDS = 10.0  # how long closing waits for the writer to write what is already queued


def segmenter_device(segmenter: Segmenter) -> torch.device:
    """The device the segmenter's tensors live on (``Segmenter.device``: None is the CPU)."""
    return torch.device(segmenter.device or "cpu")


def default_batch(segmenter: Segmenter) -> int:
    """Frames per model call for offline work: batches fill a GPU; on the CPU one frame at a time keeps memory low
    (batching there was not measured to help on our 2-core machine, whose timings were too noisy to tell)."""
    return 8 if segmenter_device(segmenter).type == "cuda" else 1


class Stages:
    """What happens to a frame after the model: temporal smoothing (:meth:`smooth`), then :meth:`picture`:
    full-resolution refinement and the output picture. :meth:`render` is both.

    ``mode`` is ``composite`` (the frame over ``background``, or RGBA when the background spec is transparent) or
    ``matte`` (the grayscale mask). The background is opened on the first frame, at that frame's size, and reopened
    if the size changes (a camera may deliver another size than it was asked for).
    """

    def __init__(self, *, mode: str = "composite", smoother: Smoother | None = None,
                 background: BackgroundSpec | None = None, device: torch.device | str = "cpu"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "composite" and background is None:
            raise ValueError("composite mode needs a background spec (u2live.backgrounds.parse_background)")
        self.mode = mode
        self.smoother = smoother
        self.background_spec = background
        self.device = torch.device(device)
        self._background = None
        self._background_size: tuple[int, int] | None = None

    @property
    def alpha(self) -> bool:
        """True when the output frames are RGBA (a transparent background in composite mode)."""
        return self.mode == "composite" and self.background_spec.transparent

    def render(self, image: torch.Tensor, mask: torch.Tensor, pts: float, stats: PipelineStats) -> np.ndarray:
        """[H, W, 3] uint8 frame and its [S, S] mask on the device -> the finished [H, W, 3|4] uint8 numpy frame."""
        return self.picture(image, self.smooth(image, mask, pts, stats), pts, stats)

    def smooth(self, image: torch.Tensor, mask: torch.Tensor, pts: float, stats: PipelineStats) -> torch.Tensor:
        """The temporal smoother's answer for the model's ``mask`` of ``image`` at ``pts`` (the mask itself when
        smoothing is off)."""
        with stats.stage("smoothing"):
            if self.smoother is not None:
                mask = self.smoother.update(mask, pts, image=image)
        return mask

    def picture(self, image: torch.Tensor, mask: torch.Tensor, pts: float, stats: PipelineStats) -> np.ndarray:
        """The output picture: ``mask`` (already smoothed) refined on ``image`` to a full-resolution alpha
        (``refine``), then the frame composited, the matte or the RGBA frame made from it (``composite``)."""
        with stats.stage("refine"):
            alpha = refine_mask(mask, image, dtype=self._alpha_dtype)
        with stats.stage("composite"):
            return self._draw(image, alpha, pts).cpu().numpy()  # the one download

    @property
    def _alpha_dtype(self) -> torch.dtype:
        # the CPU's OpenCV kernels composite an 8-bit alpha; torch on a GPU keeps float32
        return torch.uint8 if self.device.type == "cpu" else torch.float32

    def _draw(self, image: torch.Tensor, alpha: torch.Tensor, pts: float) -> torch.Tensor:
        """The output picture from the frame and its [H, W] alpha (uint8 on the CPU, float32 in [0, 1] on a GPU)."""
        if self.mode == "matte":
            return matte(alpha)
        if self.alpha:
            return rgba(image, alpha)
        background = self._open_background(image.shape[1], image.shape[0])
        return composite(image, background.render(image, alpha, pts), alpha)

    def _open_background(self, width: int, height: int):
        if self._background is None or self._background_size != (width, height):
            self.close()
            self._background = self.background_spec.open(width, height, self.device)
            self._background_size = (width, height)
        return self._background

    def close(self) -> None:
        background, self._background = self._background, None
        if background is not None:
            background.close()


class _Uploader:
    """Lists of [H, W, 3] uint8 numpy frames -> [N, H, W, 3] uint8 tensors on ``device``."""

    def __init__(self, device: torch.device):
        self.device = device
        self._pinned: torch.Tensor | None = None  # [N, H, W, 3] page-locked host staging buffer

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        if self.device.type == "cpu":
            if len(images) == 1:  # shares the decoder's memory: no copy at all
                return torch.from_numpy(np.ascontiguousarray(images[0])).unsqueeze(0)
            return torch.from_numpy(np.stack(images))
        shape = (len(images), *images[0].shape)
        if self._pinned is None or self._pinned.shape[0] < shape[0] or self._pinned.shape[1:] != shape[1:]:
            self._pinned = torch.empty(shape, dtype=torch.uint8).pin_memory()
        staging = self._pinned[: shape[0]]
        np.stack(images, out=staging.numpy())
        # Safe to reuse next batch: the previous batch's download synchronised after this copy completed.
        return staging.to(self.device, non_blocking=True)


class _Writer:
    """The writer thread: takes finished frames from a bounded queue and writes each to every sink, in order."""

    def __init__(self, sinks: Sequence, stats: PipelineStats, stop: threading.Event,
                 on_frame: Callable[[Frame], None] | None, queue_size: int):
        self.sinks = list(sinks)
        self.stats = stats
        self.stop = stop
        self.on_frame = on_frame
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="u2live-writer", daemon=True)

    def put(self, item) -> bool:
        """Queue ``item``, waiting while the queue is full; False once the pipeline is stopping."""
        return put_until_stopped(self.queue, item, self.stop)

    def _run(self) -> None:
        try:
            while True:
                try:
                    frame = self.queue.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if self.stop.is_set():  # stopping and drained
                        return
                    continue
                if frame is END:
                    return
                self._write(frame)
        except BaseException as err:  # stored and re-raised in the caller's thread
            self.error = err
            self.stop.set()

    def _write(self, frame: Frame) -> None:
        with self.stats.stage("encode"):
            for sink in self.sinks:
                sink.write(frame)
        self.stats.frame_written(frame.captured_at, frame.index)
        if self.on_frame is not None:
            self.on_frame(frame)

    def finish(self) -> None:
        """End of input: let the writer write everything queued, wait for it, re-raise its error."""
        if self.put(END):
            while self.thread.is_alive():
                self.thread.join(POLL_SECONDS)
        self.close()

    def close(self) -> None:
        """Stop: the writer drains what is queued (bounded by DRAIN_SECONDS) and is joined."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(DRAIN_SECONDS)
        if self.error is not None:
            error, self.error = self.error, None
            raise error


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
    writer = _Writer(sinks, stats, stop_event or threading.Event(), on_frame, max(1, queue_size))
    return _run_with_writer(lambda: _process(source, segmenter, stages, writer, max(1, batch), max_frames, stats),
                            writer, [*sinks, stages, source])


def _run_with_writer(main_loop: Callable[[], None], writer: _Writer, closables: Sequence) -> PipelineStats:
    """A run's frame: start the writer, run ``main_loop`` in this thread, let the writer finish; on any way out
    drain and join the writer, close ``closables`` (sinks first) and re-raise the first error. Returns the stats."""
    stats = writer.stats
    stats.start()
    failed = True
    try:
        writer.thread.start()
        main_loop()
        writer.finish()
        failed = False
    except BaseException as err:
        _tell_failed(writer.sinks, err)
        raise
    finally:
        try:
            writer.close()  # after an error or Ctrl-C in this thread: drain, join
        finally:
            stats.finish()
            _close_all(closables, raise_first=not failed)
    return stats


@torch.inference_mode()
def _process(source, segmenter: Segmenter, stages: Stages, writer: _Writer, batch: int,
             max_frames: int | None, stats: PipelineStats) -> None:
    """The main thread's loop: batches of frames through the model, each frame through the stages, to the writer."""
    upload = _Uploader(segmenter_device(segmenter))
    for frames in _batches(source, batch, max_frames, stats, writer.stop):
        with stats.stage("preprocess"):
            images = upload([frame.image for frame in frames])  # [N, H, W, 3] uint8
        masks = segmenter.predict_frames(images, stats)  # [N, S, S] float32, both stages timed
        stats.masks_made(len(frames))
        for i, frame in enumerate(frames):
            out = stages.render(images[i], masks[i], frame.pts, stats)
            stats.mask_shown(0.0)  # each frame's own mask
            finished = Frame(image=out, pts=frame.pts, index=frame.index, captured_at=frame.captured_at)
            if not writer.put(finished):
                return


def _batches(source, batch: int, max_frames: int | None, stats: PipelineStats,
             stop: threading.Event) -> Iterator[list[Frame]]:
    """Lists of up to ``batch`` frames from ``source``; the time spent waiting for them is ``decode``."""
    frames = iter(source)
    taken = 0
    while not stop.is_set():
        wanted = batch if max_frames is None else min(batch, max_frames - taken)
        if wanted <= 0:
            return
        with stats.stage("decode"):
            chunk = list(itertools.islice(frames, wanted))
        if not chunk:
            return
        taken += len(chunk)
        yield chunk
        if len(chunk) < wanted:
            return


def _tell_failed(sinks: Sequence, error: BaseException) -> None:
    """Sinks that care (a file keeps a failed run's frames under a partial name) learn how the run ended."""
    for sink in sinks:
        if hasattr(sink, "failed"):
            sink.failed(error)


def _close_all(closables: Sequence, *, raise_first: bool) -> None:
    """Close each (sinks flush their encoders), even if an earlier one fails. The first failure is re-raised when
    ``raise_first``; otherwise (an error is already on its way up) it is reported on stderr so as not to mask it."""
    first: BaseException | None = None
    for item in closables:
        try:
            item.close()
        except BaseException as err:  # noqa: BLE001 - every sink must get its close
            first = first or err
    if first is None:
        return
    if raise_first:
        raise first
    print(f"u2live: also failed while closing: {first}", file=sys.stderr)
