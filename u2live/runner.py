"""The thread runner that the offline loop (:mod:`u2live.pipeline`) and the live loop (:mod:`u2live.live`) share.

A run's main loop runs in the calling thread between :func:`run_with_writer`'s start and finish; frames come in as
lists from :func:`batches` (the source decodes or grabs in its own threads), go where the run's stage kernels work
(:mod:`u2live.kernels`), and finished frames go out through the :class:`Writer` thread, which hands each to every
sink in order. One stop event ends everything: every blocking put and get has a timeout and re-checks it. On the way
out the stop event is set, the writer drains what is queued and is joined, the sinks and the source are closed (also
after Ctrl-C, so every file written so far plays), and a stored writer error is re-raised in the caller's thread.
"""
from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from .frame import Frame
from .handoff import END, POLL_SECONDS, put_until_stopped
from .stats import PipelineStats

DRAIN_SECONDS = 10.0  # how long closing waits for the writer to write what is already queued


class QueueThread:
    """A thread that takes items from a bounded queue and passes each to :meth:`handle`, in order, until :meth:`finish`
    queues the end (then :meth:`end` runs) or the run's stop event is set. Its error is stored, stops the run, and
    is re-raised in the caller's thread by :meth:`finish` or :meth:`close`."""

    name = "u2live-stage"

    def __init__(self, stop: threading.Event, queue_size: int):
        self.stop = stop
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def handle(self, item) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Called after the last item, on a :meth:`finish` (not on a stop)."""

    def put(self, item) -> bool:
        """Queue ``item``, waiting while the queue is full; False once the run is stopping."""
        return put_until_stopped(self.queue, item, self.stop)

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self.queue.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if self.stop.is_set():  # stopping and drained
                        return
                    continue
                if item is END:
                    self.end()
                    return
                self.handle(item)
        except BaseException as err:  # noqa: BLE001 - stored and re-raised in the caller's thread
            self.error = err
            self.stop.set()

    def finish(self) -> None:
        """End of input: let the thread handle everything queued, wait for it, re-raise its error."""
        if self.put(END):
            while self.thread.is_alive():
                self.thread.join(POLL_SECONDS)
        self._raise()

    def close(self) -> None:
        """Stop: the thread drains what is queued (bounded by DRAIN_SECONDS) and is joined."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(DRAIN_SECONDS)
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class Writer(QueueThread):
    """The writer thread: takes finished frames from a bounded queue and writes each to every sink, in order."""

    name = "u2live-writer"

    def __init__(self, sinks: Sequence, stats: PipelineStats, stop: threading.Event,
                 on_frame: Callable[[Frame], None] | None, queue_size: int):
        super().__init__(stop, queue_size)
        self.sinks = list(sinks)
        self.stats = stats
        self.on_frame = on_frame

    def handle(self, frame: Frame) -> None:
        with self.stats.stage("encode"):
            for sink in self.sinks:
                sink.write(frame)
        self.stats.frame_written(frame.captured_at, frame.index)
        if self.on_frame is not None:
            self.on_frame(frame)

    def finish(self) -> None:
        super().finish()
        self.close()


def run_with_writer(main_loop: Callable[[], None], writer: Writer, closables: Sequence) -> PipelineStats:
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


def batches(source, batch: int, max_frames: int | None, stats: PipelineStats,
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
