"""The one model of a server process and the bounded pool its work runs in.

rembg's server made a model session per request (memory grew to 137 GB, its #752) and let requests pile up. Here
the segmenter is created once, in a background thread so that ``/health`` answers while it loads, warmed up with
one call, and shared by every request and video job. Work runs in a fixed pool of ``workers`` threads, never on
the event loop; at most ``workers + queue`` requests hold a place at once, taken before their bodies are read, and
the next one is refused at once with :class:`BusyError` (a 503 with ``Retry-After``), so a burst costs a bounded
amount of memory and no request waits unboundedly.
"""
from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import BusyError

LOADING_RETRY_SECONDS = 5
MODEL_CALLS = ("predict", "infer", "infer_tensor", "predict_frames")


def serialised(segmenter):
    """The segmenter with its model calls behind one lock. Image requests and video jobs share it from several
    threads, and the GPU backends are not reentrant: a captured CUDA graph or a TensorRT engine runs on fixed
    input and output buffers, so two calls at once would overwrite each other's frames. (On the CPU, ONNX Runtime
    already spreads one call over every core; a second call at once would only compete for them.)"""
    lock = threading.RLock()  # reentrant: one model call may go through another (infer_tensor -> infer)

    def holding(method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            with lock:
                return method(*args, **kwargs)
        return call

    for name in MODEL_CALLS:  # on the instance, so type(segmenter) and its overrides stay as they are
        setattr(segmenter, name, holding(getattr(segmenter, name)))
    return segmenter


class Slot:
    """A place in the pool (:meth:`ModelPool.reserve`); ``release()`` gives it back, once."""

    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots, self._held = slots, True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._slots.release()


class ModelPool:
    """``start()`` loads the model in the background; ``await run(fn, *args)`` runs ``fn(segmenter, *args)`` in
    the pool. ``on_failure(message)`` is called if the model cannot be loaded (the server then stops)."""

    def __init__(self, model_options: dict, *, workers: int, queue: int,
                 on_failure: Callable[[str], None] | None = None, log: Callable[[str], None] | None = None):
        self._options = model_options
        self._on_failure = on_failure or (lambda message: None)
        self._log = log
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="u2live-model")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._ready = threading.Event()
        self.segmenter = None
        self.error: str | None = None
        self.description = ""

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        threading.Thread(target=self._load, name="u2live-model-load", daemon=True).start()

    def _load(self) -> None:
        from .. import backends  # torch and the backends load here, not at import: the server starts at once

        try:
            self.segmenter = serialised(backends.create(log=self._log, **self._options))
            self.segmenter.predict([np.full((64, 64, 3), 128, np.uint8)])  # warm-up: first-call allocations
        except Exception as err:  # noqa: BLE001 - any failure to load is reported, and the server stops
            self.error = f"the model could not be loaded: {err}"
            self._on_failure(self.error)
            return
        self.description = self.segmenter.describe()
        self._ready.set()

    def reserve(self) -> Slot:
        """A place in the pool, taken before a request's body is read (BusyError at once while loading or when
        ``workers + queue`` places are taken): so at most that many uploads are read at once, and every one that
        is read has a worker to go to. :meth:`run` frees it when the work ends; :meth:`Slot.release` if the
        request fails before."""
        if not self.ready:
            raise BusyError("the model is still loading", retry_after=LOADING_RETRY_SECONDS)
        if not self._slots.acquire(blocking=False):
            raise BusyError("the server is busy: too many requests in progress")
        return Slot(self._slots)

    async def run(self, slot: Slot, fn: Callable, *args):
        """``fn(segmenter, *args)`` in the pool, in the place ``slot`` reserved."""
        try:
            future = self._executor.submit(fn, self.segmenter, *args)
        except BaseException:
            slot.release()
            raise
        # released when the work ends, not when the client goes: a disconnect cannot over-fill the pool
        future.add_done_callback(lambda _done: slot.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self.segmenter is not None:
            self.segmenter.close()
