"""Video jobs: an uploaded file through the pipeline of ``u2live video``, one job at a time per worker.

Each job lives in its own folder under the server's work folder, named by the job's random id; the upload is
stored there as ``input`` and the result as ``result.mp4`` (``result.webm`` for a transparent background), so no
name a client sends ever becomes a path. A job is ``uploading``, ``queued``, ``running``, then ``done``,
``failed`` or ``cancelled``; its progress (frames done of the total, FPS, ETA) is read while it runs. ``DELETE``
cancels a job (its pipeline stops at the next frame through the run's stop event) and removes its folder; finished
jobs are removed ``result_ttl`` seconds after they end.
"""
from __future__ import annotations

import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BusyError, InputError, U2LiveError
from ..spec import RunSpec

STATES = ("uploading", "queued", "running", "done", "failed", "cancelled")
ACTIVE = ("uploading", "queued", "running")
POLL_SECONDS = 0.5  # how often idle runner threads re-check for shutdown


@dataclass
class VideoJob:
    """One uploaded video's background replacement, queued and run by the server (``/v1/videos``)."""

    id: str
    folder: Path
    spec: RunSpec  #: the run: the job's input into its result, with the request's stages and frame limit
    created: float = field(default_factory=time.time)
    state: str = "queued"
    frames_done: int = 0
    frames_total: int | None = None
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    cancelled: bool = False
    #: the run's stop event: set to cancel (the pipeline also sets it itself when a run ends)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def input(self) -> Path:
        return self.folder / "input"

    @property
    def result(self) -> Path:
        transparent = getattr(self.spec.background, "transparent", False)
        return self.folder / ("result.webm" if transparent else "result.mp4")

    def status(self) -> dict:
        """The job as the API reports it."""
        elapsed = ((self.ended or time.time()) - self.started) if self.started else 0.0
        fps = self.frames_done / elapsed if elapsed > 0 else None
        eta = None
        if self.state == "running" and fps and self.frames_total:
            eta = round(max(self.frames_total - self.frames_done, 0) / fps, 1)
        return {"id": self.id, "state": self.state, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "fps": round(fps, 2) if fps else None, "eta_seconds": eta,
                "error": self.error, "result": f"/v1/videos/{self.id}/result" if self.state == "done" else None}


class JobManager:
    """Owns the jobs: ``create`` a job whose ``input`` the caller fills, ``start`` it, ``get``, ``delete``.

    ``run(job)`` is the function that processes one job (it sets ``frames_total`` and bumps ``frames_done``);
    ``workers`` threads take queued jobs one at a time each."""

    def __init__(self, root: Path, run, *, workers: int, max_jobs: int, result_ttl: float):
        self.root = root
        self._run = run
        self._max_jobs = max_jobs
        self._ttl = result_ttl
        self._jobs: dict[str, VideoJob] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[VideoJob] = queue.Queue()
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self._runner, name=f"u2live-job-{i}", daemon=True)
                         for i in range(workers)]
        self._threads.append(threading.Thread(target=self._reaper, name="u2live-job-reaper", daemon=True))
        for thread in self._threads:
            thread.start()

    def create(self, spec: RunSpec) -> VideoJob:
        """A new job with its folder, to run ``spec`` from the job's input into its result; BusyError when
        ``max_jobs`` are already queued or running."""
        with self._lock:
            # uploads in progress count too: many parallel uploads must not get past the bound
            active = sum(job.state in ACTIVE for job in self._jobs.values())
            if active >= self._max_jobs:
                raise BusyError(f"the server is busy: {active} video jobs uploading, queued or running",
                                retry_after=30)
            job = VideoJob(id=secrets.token_urlsafe(12), folder=Path(), spec=spec)
            job.folder = self.root / job.id
            job.spec = spec.replace(source=str(job.input), output=job.result)
            job.folder.mkdir(parents=True)
            job.state = "uploading"
            self._jobs[job.id] = job
        return job

    def start(self, job: VideoJob) -> None:
        job.state = "queued"
        self._queue.put(job)

    def get(self, job_id: str) -> VideoJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def delete(self, job_id: str) -> None:
        """Cancels the job if it is queued or running, and removes it and its files."""
        with self._lock:
            job = self._jobs.pop(job_id)
        job.cancelled = True
        job.stop.set()
        if job.state in ACTIVE:
            job.state = "cancelled"
        shutil.rmtree(job.folder, ignore_errors=True)  # a runner still writing fails quietly; its job is gone

    def _runner(self) -> None:
        while not self._closed.is_set():
            try:
                job = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if job.cancelled:
                continue
            self._execute(job)

    def _execute(self, job: VideoJob) -> None:
        job.state, job.started = "running", time.time()
        try:
            self._run(job)
        except U2LiveError as err:
            job.error = str(err)
        except Exception as err:  # noqa: BLE001 - a bug in one job must not stop the server
            job.error = f"internal error: {type(err).__name__}: {err}"
        job.ended = time.time()
        if job.cancelled:
            job.state = "cancelled"
        elif job.error is not None:
            job.state = "failed"
        else:
            job.state = "done"
        if job.state != "done":
            for leftover in (job.input, job.result):
                leftover.unlink(missing_ok=True)

    def _reaper(self) -> None:
        while not self._closed.wait(min(max(self._ttl / 4, 0.2), 30.0)):
            now = time.time()
            with self._lock:
                expired = [job.id for job in self._jobs.values()
                           if job.ended is not None and now - job.ended > self._ttl]
            for job_id in expired:
                try:
                    self.delete(job_id)
                except KeyError:
                    pass

    def close(self) -> None:
        """Cancels every job, joins the threads and removes the work folder."""
        self._closed.set()
        for job in list(self._jobs.values()):
            job.cancelled = True
            job.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


def check_input_size(max_pixels: int, width: int, height: int) -> None:
    if width * height > max_pixels:
        raise InputError(f"the video is {width}x{height}, over this server's limit of {max_pixels / 1e6:g} Mpx")
