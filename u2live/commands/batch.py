"""``u2live batch``: the background of many videos replaced, on local worker processes or a Ray cluster.

:mod:`u2live.batch` (PyAV, multiprocessing; Ray, an optional extra) is imported when the command runs, and torch
never in this process (the workers load the model), so ``--help`` answers at once."""
from __future__ import annotations

import os
import sys
import time

import click

from ..errors import U2LiveError
from ..progress import progress_bar
from ..spec import RunSpec
from .video import run_spec
from .video import video as video_command

#: ``u2live video``'s options that do not apply to a batch (each file's output is OUT_DIR/<stem><suffix>)
NOT_FOR_BATCH = {"input_path", "output", "rtmp", "preview"}
#: compute threads per CPU worker (see benchmarks/batch.py for the measurement behind it)
CPU_THREADS_PER_WORKER = 1


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--out-dir", "-d", required=True, type=click.Path(file_okay=False),
              help="Folder for the results: DIR/<stem><suffix>, sub-folders mirrored with --recursive.")
@click.option("--suffix", default=".mp4", show_default=True, help="Extension (and so format) of each output.")
@click.option("--recursive", "-r", is_flag=True, help="Also take the videos in sub-folders of a folder input.")
@click.option("--redo", is_flag=True, help="Process inputs whose output already exists (default: skip them).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Local worker processes. Default: one per GPU, else one per CPU core (each worker loads the "
                   "model once and takes the next file when done). With --ray: at most this many Ray workers, "
                   "and the CPU slots of a local cluster started here.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Run on a Ray cluster (pip install 'u2live[ray]'): --ray alone joins $RAY_ADDRESS or starts a "
                   "local cluster; --ray HOST:6379 joins that one. Inputs and --out-dir must be reachable at the "
                   "same paths from every machine (a shared file system).")
def batch(inputs, out_dir, suffix, recursive, redo, jobs, ray_address, **options):
    """Replace the background of every video in INPUTS (files and folders), as `u2live video` does for one.

    Every `u2live video` option applies to each file. A finished output (outputs are moved into place only when
    complete) is skipped on the next run, so an interrupted batch resumes where it stopped; --redo processes
    it again. A file that fails is reported with its reason and the others go on; the exit code is 1 if any
    failed. Ctrl-C stops every worker: finished files stay, the one in progress keeps a .partial name.

    \b
    A small Ray cluster:  ray start --head              (on the first machine)
                          ray start --address=HEAD:6379 (on each other machine)
                          u2live batch /shared/in --out-dir /shared/out --ray HEAD:6379
    """
    from ..batch.plan import plan_batch

    spec = run_spec("", options)  # every file's run; each worker gives it the file's input and output
    plan = plan_batch(inputs, out_dir, suffix=suffix, recursive=recursive, redo=redo,
                      also_read={spec.background.path: "background", spec.model.weights: "weights"})
    if plan.finished:
        click.echo(f"u2live: skipping {len(plan.finished)} finished output(s), e.g. {plan.finished[0].output} "
                   "(--redo to process them again)", err=True)
    if plan.tasks:
        os.makedirs(out_dir, exist_ok=True)
    report = _Report(len(plan.tasks), len(plan.finished), plan.total_frames, quiet=not spec.progress)
    with report:
        _run(plan.tasks, spec, jobs=jobs, ray_address=ray_address, report=report)
    if report.failed:
        raise U2LiveError(f"{report.failed} of {len(plan.tasks)} files failed (reasons above)")


def _run(tasks, spec: RunSpec, *, jobs, ray_address, report) -> None:
    if not tasks:
        return
    if ray_address is not None:
        from ..batch.cluster import run_ray

        run_ray(tasks, spec, address=ray_address, cpu_threads=CPU_THREADS_PER_WORKER, jobs=jobs,
                on_frames=report.frames, on_result=report.result, log=report.line)
        return
    from ..batch.local import run_local, usable_cores

    gpus = _gpu_count() if spec.model.backend in ("auto", "cuda", "tensorrt") else 0
    jobs = jobs or gpus or max(1, len(usable_cores()) // CPU_THREADS_PER_WORKER)
    report.line(f"u2live: batch: {len(tasks)} files on {min(jobs, len(tasks))} local workers")
    run_local(tasks, spec, jobs=jobs, gpus=gpus, on_frames=report.frames, on_result=report.result)


def _gpu_count() -> int:
    """NVIDIA GPUs visible here, without importing torch in this process (the workers do)."""
    from ..backends import no_nvidia_driver

    if no_nvidia_driver():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class _Report:
    """One progress bar for the whole batch (frames, with files in its text), a line per failure, a summary."""

    def __init__(self, files: int, skipped: int, total_frames: int | None, *, quiet: bool):
        self.files, self.skipped, self.quiet = files, skipped, quiet
        self.done = self.failed = self.frame_count = 0
        self.bar = progress_bar(total=total_frames, disable=quiet, desc=self._files_text())
        self.started = time.monotonic()

    def _files_text(self) -> str:
        return f"files {self.done + self.failed}/{self.files}"

    def frames(self, n: int) -> None:
        self.frame_count += n
        self.bar.update(n)

    def result(self, result) -> None:
        if result.ok:
            self.done += 1
        else:
            self.failed += 1
            self.line(f"u2live: failed: {result.input}: {result.error}")
        self.bar.set_description_str(self._files_text())

    def line(self, text: str) -> None:
        if self.bar.disable:
            click.echo(text, err=True)
        else:
            self.bar.write(text, file=sys.stderr)  # above the bar, which redraws below it

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
        seconds = time.monotonic() - self.started
        fps = self.frame_count / seconds if seconds > 0 else 0.0
        if not self.quiet or self.failed:
            click.echo(f"u2live: batch: {self.done} done, {self.skipped} skipped (finished before), {self.failed} "
                       f"failed; {self.frame_count} frames in {seconds:.1f} s ({fps:.1f} FPS)", err=True)


batch.params.extend(param for param in video_command.params if param.name not in NOT_FOR_BATCH)
