"""Local batch workers: one process per share of the machine, files handed out from one queue.

Processes, not threads: each worker's model, decoder and encoder run in parallel without the GIL, and a worker
that crashes (out of memory, say) fails its file, not the batch. Workers ignore SIGINT; on Ctrl-C the parent sets
the stop event, each worker ends its file as failed at its next frame (kept under the partial name, never the
final one) and exits, and the parent reports where each file's frames were kept. SIGTERM to the whole process
group (a service manager, ``kill -- -PGID``) ends the same way: a worker that receives SIGTERM stops as if the
parent had asked it to.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence

from ..console import LOG, to_stderr
from ..errors import BackendError
from ..spec import RunSpec
from .plan import Task
from .worker import Result, Worker, claim_share

POLL_SECONDS = 0.2
FRAME_REPORT_SECONDS = 0.25  # frame counts travel to the parent in bunches, not one message per frame
STOP_SECONDS = 30.0  # after a stop, how long workers get to close their files before they are terminated


def usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def shares(jobs: int, gpus: int) -> list[dict]:
    """What each of ``jobs`` workers gets: a GPU each when there are GPUs, else the cores split evenly."""
    if gpus:
        return [{"gpu": i % gpus} for i in range(jobs)]
    cores = usable_cores()
    per = max(1, len(cores) // jobs)
    return [{"cores": cores[(i * per) % len(cores):][:per] or cores[:per]} for i in range(jobs)]


def run_local(tasks: Sequence[Task], spec: RunSpec, *, jobs: int, gpus: int = 0,
              on_frames: Callable[[int], None], on_result: Callable[[Result], None]) -> None:
    """Process ``tasks`` with ``jobs`` worker processes; ``on_frames(n)`` and ``on_result(result)`` are called in
    this thread as work progresses. Ctrl-C (KeyboardInterrupt here) stops every worker, then propagates."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or torch state
    todo, events, stop = context.Queue(), context.Queue(), context.Event()
    for task in tasks:
        todo.put(task)
    jobs = max(1, min(jobs, len(tasks)))
    level = LOG.getEffectiveLevel()  # what the workers say, as this process would say it
    workers = [context.Process(target=_work, args=(share, spec, level, todo, events, stop), daemon=True,
                               name=f"u2live-batch-{i}") for i, share in enumerate(shares(jobs, gpus))]
    for _ in workers:
        todo.put(None)  # one end marker per worker
    for worker in workers:
        worker.start()
    try:
        _collect(len(tasks), workers, events, on_frames, on_result)
    except BaseException:
        stop.set()
        _stop_workers(workers, events, on_frames, on_result)
        raise
    for worker in workers:
        worker.join()


def _collect(count: int, workers, events, on_frames, on_result) -> None:
    """Relay the workers' events until every task has a result; a worker that dies fails the file it held."""
    holding: dict[str, Task] = {}  # worker name -> the task it is on
    done = 0
    while done < count:
        try:
            kind, name, payload = events.get(timeout=POLL_SECONDS)
        except queue.Empty:
            for worker in workers:
                if not worker.is_alive() and worker.name in holding:
                    task = holding.pop(worker.name)
                    on_result(Result(str(task.input), str(task.output),
                                     error=f"the worker processing it died (exit code {worker.exitcode})"))
                    done += 1
            if not any(worker.is_alive() for worker in workers) and done < count:
                raise BackendError(f"every batch worker has exited with {count - done} files left")
            continue
        if kind == "start":
            holding[name] = payload
        elif kind == "frames":
            on_frames(payload)
        elif kind == "result":
            holding.pop(name, None)
            on_result(payload)
            done += 1
        elif kind == "fatal":  # the model cannot load: every worker would say the same
            raise BackendError(payload)


def _stop_workers(workers, events, on_frames, on_result) -> None:
    """After the stop event: relay each worker's last result (a stopped file says where its frames are kept) while
    the workers close their files; one still running after STOP_SECONDS is killed (its temporary file stays under
    the partial-… name, never the final one)."""
    deadline = time.monotonic() + STOP_SECONDS
    while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        _relay_results(events, on_frames, on_result, POLL_SECONDS)
    for worker in workers:
        if worker.is_alive():
            worker.kill()
        worker.join()
    _relay_results(events, on_frames, on_result, 0.0)  # what the last ones sent as they exited


def _relay_results(events, on_frames, on_result, wait: float) -> None:
    """Pass on the frame counts and results waiting in ``events``; wait up to ``wait`` for the first."""
    while True:
        try:
            kind, _name, payload = events.get(timeout=wait) if wait else events.get_nowait()
        except queue.Empty:
            return
        except Exception:  # noqa: BLE001 - a pipe cut mid-message by the signal: nothing more to relay
            return
        if kind == "result":
            on_result(payload)
        elif kind == "frames":
            on_frames(payload)
        wait = 0.0


def _work(share: dict, spec: RunSpec, level: int, todo, events, stop) -> None:
    """A worker process: claim its share, load the model once, process tasks until the end marker or a stop;
    its lines on stderr from ``level`` up (a new interpreter: the command's logging is not inherited)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    to_stderr(level)
    terminated = _stop_on_sigterm()
    name = multiprocessing.current_process().name
    claim_share(**share)
    try:
        worker = Worker(spec)
    except Exception as err:  # noqa: BLE001 - reported to the parent as one line
        events.put(("fatal", name, f"a batch worker cannot load the model: {err}"))
        return

    def stopped() -> bool:
        return stop.is_set() or terminated.is_set()

    with _FrameReporter(events, name) as report:
        while not stopped():
            task = todo.get()
            if task is None:
                break
            events.put(("start", name, task))
            result = worker.run(task, on_frame=report, stopped=stopped)
            report.flush()
            events.put(("result", name, result))
    worker.close()


def _stop_on_sigterm() -> threading.Event:
    """SIGTERM to a worker (alone, or with its whole process group) stops it as the parent's stop event does: the
    file in progress ends at its next frame, kept under the partial name, and its result is still reported. (The
    default action would kill it mid-frame, its temporary file left under a partial-xxxx name and unreported.)"""
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: terminated.set())
    return terminated


class _FrameReporter:
    """Counts frames and sends the count to the parent at most every FRAME_REPORT_SECONDS."""

    def __init__(self, events, name: str):
        self.events, self.name = events, name
        self.pending, self.sent_at = 0, time.monotonic()

    def __call__(self) -> None:
        self.pending += 1
        if time.monotonic() - self.sent_at >= FRAME_REPORT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.events.put(("frames", self.name, self.pending))
        self.pending, self.sent_at = 0, time.monotonic()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.flush()
