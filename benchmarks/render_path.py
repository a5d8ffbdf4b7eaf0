"""CPU time of the per-frame work after the model (refinement on the full-resolution frame, background, composite),
the OpenCV fast path beside the torch path (the reference, and what a GPU runs), per background kind.

Real frames: Megamind.avi frames 90-119 scaled to each size, with the bundled model's cached 320x320 masks
(``benchmarks/smoothing.py`` caches them in ``.cache/masks``; missing ones are computed once). Each frame runs every
(path, background) pair in turn (interleaved, so load from other processes hits each alike); the figure is the
median CPU time of this thread (``time.thread_time``), not wall time, with one torch and one OpenCV thread, as in
the issue's figures. The temporal smoother is not included (it runs on the 320x320 mask). Writes
``benchmarks/results/render-path.json`` and ``.md``.

    python benchmarks/render_path.py [--frames 30]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from smoothing import MEDIA, clip_masks, decode  # noqa: E402
from u2live.backgrounds import parse_background  # noqa: E402
from u2live.bench.machine import describe, finished, machine_info  # noqa: E402
from u2live.kernels import CPU  # noqa: E402
from u2live.kernels_torch import TorchKernels  # noqa: E402

KERNELS = {"torch": TorchKernels("cpu"), "cpu": CPU}

SIZES = [(1280, 720), (720, 528)]
FIRST = 90


def backgrounds(width: int, height: int, path: str) -> dict:
    """kind -> an opened Background for ``path``'s kernels, plus 'matte' (no background)."""
    specs = {"color": "color:0,177,64", "image": str(MEDIA / "baboon.jpg"), "video": str(MEDIA / "tree.avi"),
             "blur": "blur"}
    opened = {kind: parse_background(spec).open(width, height, KERNELS[path]) for kind, spec in specs.items()}
    return {**opened, "matte": None}


def render(path: str, kind: str, background, image, mask, pts: float):
    """What Stages does after smoothing, with ``path``'s kernels (the GPU's torch ones here on CPU tensors)."""
    kernels = KERNELS[path]
    alpha = kernels.refine(mask, image)
    if kind == "matte":
        return kernels.matte(alpha)
    return kernels.composite(image, background.render(image, alpha, pts), alpha)


def measure(frames: int) -> list[dict]:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    masks, _ = clip_masks(MEDIA / "Megamind.avi", max_frames=FIRST + frames)
    clip = [image for image, _ in decode(MEDIA / "Megamind.avi", FIRST + frames)][FIRST:]
    rows = []
    for width, height in SIZES:
        layers = {path: backgrounds(width, height, path) for path in KERNELS}
        times = {(path, kind): [] for kind in layers["cpu"] for path in KERNELS}
        for i, raw in enumerate(clip):
            image = cv2.resize(raw, (width, height), interpolation=cv2.INTER_AREA)
            mask = masks[FIRST + i]
            inputs = {"cpu": (image, mask), "torch": (torch.from_numpy(image), torch.from_numpy(mask))}
            for (path, kind), spent in times.items():
                started = time.thread_time()
                render(path, kind, layers[path][kind], *inputs[path], i / 24)
                spent.append(1000 * (time.thread_time() - started))
        for (path, kind), spent in times.items():
            rows.append({"size": f"{width}x{height}", "background": kind, "path": path,
                         "cpu_ms_median": float(np.median(spent[1:])),
                         "cpu_ms_p90": float(np.percentile(spent[1:], 90))})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| size | background | torch ms | OpenCV ms | speed-up |", "|---|---|---:|---:|---:|"]
    for row in rows:
        if row["path"] != "torch":
            continue
        fast = next(r for r in rows if r["path"] == "cpu" and r["size"] == row["size"]
                    and r["background"] == row["background"])
        lines.append(f"| {row['size']} | {row['background']} | {row['cpu_ms_median']:.1f} | "
                     f"{fast['cpu_ms_median']:.1f} | {row['cpu_ms_median'] / fast['cpu_ms_median']:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "render-path")
    args = parser.parse_args()
    machine = machine_info()
    rows = measure(args.frames)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "frames": args.frames, "machine": finished(machine),
              "threads": 1, "rows": rows}
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = (f"`python benchmarks/render_path.py`, {result['date']}, {describe(machine)}; median CPU time of one "
            f"thread per frame over {args.frames} Megamind frames: refinement + background + composite "
            f"(matte: refinement + the gray picture).\n\n{table(rows)}\n")
    args.out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
