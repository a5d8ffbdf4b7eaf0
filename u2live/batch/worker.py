"""One batch worker: the model loaded once, then one file after another through ``u2live video``'s run.

The same class serves a local worker process and a Ray actor. A worker owns a share of the machine: a GPU
(``CUDA_VISIBLE_DEVICES``), or some CPU cores, pinned, so that the workers' compute threads add up to the cores
instead of each taking all of them (ONNX Runtime sizes its pool by the cores a process may run on).
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import U2LiveError
from ..spec import RunSpec
from .plan import Task


class Stopped(U2LiveError):
    """The batch was stopped (Ctrl-C): the file in progress is kept under its partial name, not the final one."""


@dataclass
class Result:
    input: str
    output: str
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None  # one line; None when the file is done

    @property
    def ok(self) -> bool:
        return self.error is None


def claim_share(*, cores: list[int] | None = None, gpu: int | None = None, threads: int | None = None) -> None:
    """Restrict this process to GPU ``gpu``, or to ``cores`` (pinned on Linux) and ``threads`` compute threads
    (default: one per core). Call before the model loads."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    threads = threads or (len(cores) if cores else None)
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # ONNX Runtime's pool follows OMP_NUM_THREADS too
            os.environ[name] = str(threads)
        import torch

        torch.set_num_threads(threads)


class Worker:
    """``Worker(spec)`` loads the model of ``spec`` (the batch's :class:`u2live.spec.RunSpec`: every file's run
    but its input and output) once; ``run(task)`` processes one file and never raises for a bad file: its error
    comes back as ``Result.error``."""

    def __init__(self, spec: RunSpec):
        from ..job import open_segmenter

        self.spec = spec.replace(progress=False)  # one bar for the whole batch, in the parent
        # the model as `u2live video` opens it (INT8 on the CPU under --precision auto)
        self.segmenter = open_segmenter(spec.model, live=False)

    def run(self, task: Task, *, on_frame: Callable[[], None] | None = None,
            stopped: Callable[[], bool] = lambda: False) -> Result:
        from ..job import run_job

        def frame_done() -> None:
            if stopped():  # raised in the writer: the pipeline ends as failed and keeps the file as partial
                raise Stopped("stopped")
            if on_frame is not None:
                on_frame()

        started = time.monotonic()
        result = Result(str(task.input), str(task.output))
        try:
            stats = run_job(self.spec.replace(source=str(task.input), output=task.output),
                            segmenter=self.segmenter, on_frame=frame_done)
            result.frames = stats.frames
        except U2LiveError as err:
            result.error = str(err)
        except Exception as err:  # noqa: BLE001 - a bug: still one line, and the next file goes on
            result.error = f"internal error: {type(err).__name__}: {err}"
        result.seconds = time.monotonic() - started
        return result

    def close(self) -> None:
        self.segmenter.close()
