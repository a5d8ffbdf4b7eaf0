"""Model-only benchmarks: each backend x precision x size x batch, and the authors' reference path beside them."""
from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import backends
from .. import weights as weights_mod
from ..capacity import check_batch_memory
from ..errors import BackendError, U2LiveError
from ..model import unfold_batchnorm
from ..options import VIDEO_PRECISION
from ..person import PERSON_MODEL
from ..preprocess import to_model_input
from .measure import PeakMemory, summarise, time_calls

#: the paper's figure for U2-Net† (Qin et al. 2020): model only, 320x320, one GTX 1080 Ti
PAPER = {"label": "paper: U2-Net† on a GTX 1080 Ti (model only, the paper's figure, not measured here)",
         "fps": 40.0, "size": 320, "batch": 1}
REFERENCE_BACKEND = "reference"
REFERENCE_SIZE = 320  # the authors' test script resizes every image to 320x320 and runs batch 1


@dataclass(frozen=True)
class Config:
    """One configuration to measure; ``precision`` None means what ``u2live video`` and ``webcam`` run on that
    backend under ``--precision auto`` (INT8 on the CPU: ``VIDEO_PRECISION``), so the defaults measure the
    defaults."""

    backend: str
    precision: str | None
    size: int
    batch: int

    def options(self, model: str, weights) -> dict:
        # the person model of --model auto (video's default) runs at its backend's default (u2live.person)
        video = None if model == PERSON_MODEL else VIDEO_PRECISION.get(self.backend)
        return {"model": model, "size": self.size, "weights": weights, "precision": self.precision or video}


def plan(backend_names: Sequence[str], precisions: Sequence[str], sizes: Sequence[int],
         batches: Sequence[int]) -> tuple[list[Config], list[str]]:
    """The configurations to run, and one line for each requested backend that cannot run here.

    No backend named (or ``auto``): every registered backend that is usable here. No precision (or ``auto``):
    each backend's precision for video work (``u2live video``'s under ``--precision auto``).
    """
    explicit = [name for name in backend_names if name != "auto"]
    names = explicit or list(backends.BACKENDS)
    usable, skipped = [], []
    for name in dict.fromkeys(names):
        if name not in backends.BACKENDS:
            raise BackendError(f"unknown backend {name!r}: expected one of {', '.join(backends.backend_choices())}")
        reason = backends.BACKENDS[name].unavailable_reason()
        if reason is None:
            usable.append(name)
        else:
            skipped.append(f"{name}: {reason}")
    wanted = [p for p in precisions if p != "auto"] or [None]
    configs = [Config(name, precision, size, batch) for name in usable for precision in dict.fromkeys(wanted)
               for size in dict.fromkeys(sizes or [320]) for batch in dict.fromkeys(batches or [1])]
    return configs, skipped


def input_batch(images: Sequence[np.ndarray], size: int, batch: int) -> np.ndarray:
    """[batch, 3, size, size] float32 from real frames (repeated when there are fewer than ``batch``)."""
    chosen = [images[i % len(images)] for i in range(batch)]
    return to_model_input(chosen, size)


def open_segmenter(config: Config, *, model: str = "u2netp", weights=None,
                   log: Callable[[str], None] = print) -> tuple[backends.Segmenter | None, dict]:
    """The configuration's segmenter (None when it cannot run here) and its result row so far.

    The row carries ``load_peak_rss_mb`` (loading may peak higher than running) or ``skipped`` with the reason.
    """
    row = {"backend": config.backend, "precision": config.precision, "size": config.size, "batch": config.batch}
    try:
        with PeakMemory(torch.device("cpu")) as loading:
            segmenter = backends.create(config.backend, log=log, **config.options(model, weights))
    except U2LiveError as err:
        return None, {**row, "skipped": str(err)}
    try:
        check_batch_memory(config.size, config.batch, _device_of(segmenter))
    except U2LiveError as err:
        segmenter.close()
        return None, {**row, "skipped": str(err)}
    row.update(precision=segmenter.precision, describe=segmenter.describe(),
               device=str(_device_of(segmenter)), load_peak_rss_mb=loading.peak_rss_mb)
    return segmenter, row


@dataclass
class Timed:
    """One model-only entry: a call to time, its device, how many timed calls, and its result row so far."""

    row: dict
    call: Callable[[], object]
    device: torch.device
    runs: int
    latencies: list[float] = field(default_factory=list)


def model_entry(segmenter: backends.Segmenter, row: dict, images: Sequence[np.ndarray], *, frames: int) -> Timed:
    """``infer_tensor`` on an input already on the device: the model only, no upload, no post-processing."""
    device = _device_of(segmenter)
    batch = torch.from_numpy(input_batch(images, row["size"], row["batch"])).to(device)  # [B, 3, S, S]

    def call():
        with torch.inference_mode():
            return segmenter.infer_tensor(batch)

    return Timed({**row, "stage": "model"}, call, device, math.ceil(frames / row["batch"]))


def bench_models(entries: Sequence[Timed], *, warmup: int) -> list[dict]:
    """Model-only FPS, per-call latency and peak memory of every entry.

    Memory: each entry's warm-up calls alone (they allocate what steady state uses). Time: round-robin, one call
    of each entry per round, so a change in the machine's load (other jobs on shared cores) touches every entry
    alike and the ratios between them stay honest.
    """
    for entry in entries:
        with PeakMemory(entry.device) as memory:
            time_calls(entry.call, runs=max(warmup, 1), warmup=0, device=entry.device)
        entry.row.update(memory.as_dict())
    for round_index in range(max(entry.runs for entry in entries)):
        for entry in entries:
            if round_index < entry.runs:
                entry.latencies += time_calls(entry.call, runs=1, warmup=0, device=entry.device)
    return [{**entry.row, **summarise(entry.latencies, entry.row["batch"])} for entry in entries]


def close_segmenter(segmenter: backends.Segmenter) -> None:
    segmenter.close()
    gc.collect()  # release the backend's arenas before the next configuration's memory is measured


def reference_module(model: str = "u2netp", weights=None) -> torch.nn.Module:
    """The authors' model as their ``u2net_test.py`` runs it: FP32 eager, BatchNorm layers present (our folded
    weights with identity BatchNorms restored: same layout and outputs), contiguous memory format, all seven
    outputs computed."""
    return unfold_batchnorm(weights_mod.load(model, weights)).eval()


def reference_entry(images: Sequence[np.ndarray], *, frames: int, model: str = "u2netp", weights=None) -> Timed:
    """The reference every configuration is compared with: the authors' path at 320x320, batch 1, on the GPU
    when there is one (as their script does), else the CPU. Autograd is off (their script leaves it on, which only
    costs time we would not charge to them)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = reference_module(model, weights).to(device)
    batch = torch.from_numpy(to_model_input(images[:1], REFERENCE_SIZE)).to(device)  # [1, 3, 320, 320]

    def call():
        with torch.no_grad():
            return net(batch)

    row = {"backend": REFERENCE_BACKEND, "precision": "fp32", "size": REFERENCE_SIZE, "batch": 1, "stage": "model",
           "device": str(device), "describe": "authors' eager FP32 model, contiguous, their preprocessing"}
    return Timed(row, call, device, frames)


def add_ratios(rows: list[dict], reference: dict) -> None:
    """``ratio_to_reference``: each row's FPS over the reference's (above 1 is faster than the authors' path). Not
    for live rows: their rate is the camera's pace (frames the model could not take are dropped), not a speed."""
    for row in rows:
        if row.get("fps") and reference.get("fps") and not str(row.get("path", "")).startswith("live"):
            row["ratio_to_reference"] = round(row["fps"] / reference["fps"], 3)


def _device_of(segmenter: backends.Segmenter) -> torch.device:
    return torch.device(segmenter.device or "cpu")  # None is the CPU
