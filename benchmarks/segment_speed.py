"""Cut-outs of the authors' 18 reference images: ``rembg p -m u2netp`` vs ``u2live segment --format cutout``, whole
processes (start-up, model load, decode, inference, PNG encode), interleaved round by round on one machine.

    python benchmarks/segment_speed.py --rembg /path/to/venv/bin/rembg --before /work/main --rounds 3

``--before DIR`` adds the same u2live command run from another checkout (e.g. the code before a change). rembg is
not a dependency of u2live: install ``rembg[cli]`` into a separate virtual environment for this benchmark, and put
``u2netp.onnx`` into ``~/.u2net/`` so it does not download. Also measured in-process, to see where the time goes:
importing torch, and PNG encoding of the cut-outs at zlib levels 1 and 6 (time and bytes).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from u2live.bench.machine import describe, machine_info  # noqa: E402

IMAGES = ROOT / "tests" / "data" / "u2net" / "test_images"


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine, written beside the figures."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commands(rembg: str | None, before: Path | None) -> dict[str, tuple[list[str], Path]]:
    """name -> (argv with {out} for the output folder, the checkout to run it in)."""
    files = [str(p) for p in sorted(IMAGES.iterdir())]  # files, not the folder: older u2live takes no folders
    ours = [sys.executable, "-m", "u2live", "segment", *files, "-d", "{out}", "--format", "cutout", "-q"]
    runs = {"u2live segment --format cutout": (ours, ROOT)}
    if before:
        runs["u2live segment --format cutout (before)"] = (ours, before.resolve())
    if rembg:
        runs["rembg p -m u2netp"] = ([rembg, "p", "-m", "u2netp", str(IMAGES), "{out}"], ROOT)
    return runs


def time_run(argv: list[str], checkout: Path) -> tuple[float, int]:
    """Wall seconds of one whole process, and the bytes it wrote. ``python -m`` puts the working folder first on
    sys.path, so each u2live runs in its own checkout (PYTHONPATH alone would not pick it)."""
    with tempfile.TemporaryDirectory() as out:
        argv = [a.replace("{out}", out) for a in argv]
        start = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        result = subprocess.run(argv, env=env, cwd=checkout, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{result.stderr}")
        written = list(Path(out).iterdir())
        if len(written) != 18:
            raise SystemExit(f"{argv[0]} wrote {len(written)} files, expected 18")
        return wall, sum(p.stat().st_size for p in written)


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def png_costs() -> dict:
    """Encoding our 18 true-colour cut-outs (the authors' published masks as alpha) at zlib levels 1 and 6."""
    import io

    import numpy as np
    from PIL import Image

    from u2live.images import read_rgb

    masks = IMAGES.parent / "u2netp_results"
    pictures = [Image.fromarray(np.dstack([read_rgb(p), np.asarray(Image.open(masks / f"{p.stem}.png").convert("L"))]))
                for p in sorted(IMAGES.iterdir())]
    costs = {}
    for level in (1, 6):
        start, size = time.perf_counter(), 0
        for picture in pictures:
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", compress_level=level)
            size += buffer.tell()
        costs[f"level {level}"] = {"seconds": time.perf_counter() - start, "bytes": size}
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rembg", default=None, help="the rembg executable (of a separate environment)")
    parser.add_argument("--before", type=Path, default=None, help="another u2live checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "segment-speed.json")
    args = parser.parse_args()
    runs = commands(args.rembg, args.before)
    for argv, checkout in runs.values():  # warm-up: caches (our exported graph), page cache, rembg's first-run work
        time_run(argv, checkout)
    walls = {name: [] for name in runs}
    sizes, loads = {}, [load()]
    for _ in range(args.rounds):
        for name, (argv, checkout) in runs.items():
            wall, sizes[name] = time_run(argv, checkout)
            walls[name].append(wall)
        loads.append(load())
    result = {"machine": describe(machine_info()),
              "images": 18, "rounds": args.rounds, "loadavg": loads,
              "runs": {name: {"median_s": statistics.median(w), "all_s": w, "bytes": sizes[name]}
                       for name, w in walls.items()},
              "import_s": {"torch": import_seconds("torch"), "onnxruntime": import_seconds("onnxruntime")},
              "png": png_costs()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
