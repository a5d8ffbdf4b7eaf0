"""Batch workers on a Ray cluster: one actor per GPU (or per CPU share), each loading the model once.

``address`` None or "" joins the cluster in ``RAY_ADDRESS``, else starts a local one on this machine (and shuts it
down at the end); any other value joins that cluster (``ray start --head`` on one machine, ``ray start
--address=HEAD:6379`` on the others). Files are handed out with back-pressure: one file in flight per actor, the
next one when it returns; the actors' frame counts are polled for the progress bar. Every worker must reach the
inputs and the output folder at the same paths (a shared file system, or an object-storage mount FFmpeg can read
and write).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from ..console import LOG, to_stderr
from ..errors import BackendError
from ..spec import RunSpec
from .plan import Task
from .worker import Result, Worker, claim_share

ACTOR_CPUS_WITH_GPU = 1  # a GPU actor's decoder and encoder threads
PROGRESS_SECONDS = 0.5  # how often the actors' frame counts are asked for


class _Actor:
    """The Ray actor: a :class:`Worker` whose compute threads match the CPUs Ray granted it."""

    def __init__(self, spec: RunSpec, threads: int, level: int):
        to_stderr(level)  # Ray relays an actor's stderr
        claim_share(threads=threads)
        self.worker = Worker(spec)
        self.frames = 0

    def ready(self) -> bool:
        return True

    def run(self, task: Task) -> Result:
        return self.worker.run(task, on_frame=self._count)

    def _count(self) -> None:
        self.frames += 1

    def frames_done(self) -> int:
        """Frames finished since the actor started; answered while ``run`` works (the actor has two threads)."""
        return self.frames


def run_ray(tasks: Sequence[Task], spec: RunSpec, *, address: str | None, cpu_threads: int, jobs: int | None,
            on_frames: Callable[[int], None], on_result: Callable[[Result], None],
            log: Callable[[str], None]) -> None:
    """Process ``tasks`` on Ray actors; ``on_frames``/``on_result`` are called here as each file finishes.
    ``jobs`` caps the actors; a local cluster started here gets that many CPU slots (else every core)."""
    ray = _import_ray()
    started_here = not address and not os.environ.get("RAY_ADDRESS")
    local = {"num_cpus": jobs * cpu_threads} if started_here and jobs else {}
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True, logging_level="ERROR", **local)
    except Exception as err:  # noqa: BLE001 - Ray raises many kinds (ConnectionError, RuntimeError, ...)
        raise BackendError(f"cannot join the Ray cluster {address or os.environ.get('RAY_ADDRESS', '')}: "
                           f"{type(err).__name__}: {err}".rstrip(": ")) from err
    try:
        count = min(len(tasks), jobs or len(tasks), _slots(ray, cpu_threads)[0])
        actors = _start_actors(ray, spec, cpu_threads, count, log)
        try:
            _hand_out(ray, actors, tasks, on_frames, on_result)
        finally:
            for actor in actors:
                ray.kill(actor)  # on Ctrl-C too: a file in progress keeps its partial-… name, never the final one
    finally:
        if started_here:
            ray.shutdown()


def _hand_out(ray, actors: list, tasks: Sequence[Task], on_frames, on_result) -> None:
    """One file in flight per actor, the next one to the first actor that is free (back-pressure: the cluster never
    holds a queue of files); while they work, their frame counts are polled for the progress bar."""
    todo = list(reversed(tasks))
    running: dict = {}  # ObjectRef of a run -> index of its actor
    reported = [0] * len(actors)  # frames already passed to on_frames, per actor

    def hand(i: int) -> None:
        if todo:
            running[actors[i].run.remote(todo.pop())] = i

    for i in range(len(actors)):
        hand(i)
    while running:
        ready, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_SECONDS)
        counts = ray.get([actor.frames_done.remote() for actor in actors])  # after the wait: ready runs counted
        for i, count in enumerate(counts):
            if count > reported[i]:
                on_frames(count - reported[i])
                reported[i] = count
        for ref in ready:
            on_result(ray.get(ref))
            hand(running.pop(ref))


def _slots(ray, cpu_threads: int) -> tuple[int, dict]:
    """How many actors the cluster holds and the resources each asks for: one per GPU, else one per CPU share."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": ACTOR_CPUS_WITH_GPU}
    return max(1, int(resources.get("CPU", 1)) // cpu_threads), {"num_cpus": cpu_threads}


def _start_actors(ray, spec: RunSpec, cpu_threads: int, count: int, log) -> list:
    _, resources = _slots(ray, cpu_threads)
    threads = int(resources["num_cpus"])
    remote = ray.remote(max_concurrency=2, **resources)(_Actor)  # frames_done while run works
    log(f"u2live: batch on Ray: {count} workers, each {'1 GPU' if 'num_gpus' in resources else f'{threads} CPUs'}")
    actors = [remote.remote(spec, threads, LOG.getEffectiveLevel()) for _ in range(count)]
    try:
        ray.get([actor.ready.remote() for actor in actors])  # the model loaded in each
    except Exception as err:  # noqa: BLE001 - the actor's own error, one line
        for actor in actors:
            ray.kill(actor)
        raise BackendError(f"a Ray worker cannot load the model: {_cause(err)}") from err
    return actors


def _cause(err: Exception) -> str:
    cause = getattr(err, "cause", None) or err
    return str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__


def _import_ray():
    try:
        import ray
    except ImportError as err:
        raise BackendError("--ray needs Ray: pip install 'u2live[ray]'") from err
    return ray
