"""What the two parity benchmarks against MediaPipe's own runtime share (``selfie_parity.py``, ``face_parity.py``):
running the original in its own virtual environment, the machine's load, and a median time per call."""
from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent


def reference(python: str, script: str, inputs: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The original's outputs for ``inputs`` and its info: ``benchmarks/SCRIPT`` (``selfie_reference.py``,
    ``face_reference.py``) run by ``python``, a virtual environment with mediapipe, reading and writing .npz."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(source, **inputs)
        done = subprocess.run([python, str(BENCHMARKS / script), str(source), str(target)], capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the reference run failed:\n{done.stderr[-3000:]}")
        with np.load(target) as out:
            return {k: out[k] for k in out.files if k != "info"}, json.loads(str(out["info"]))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median_ms(run, repeats: int = 30) -> float:
    """Median wall milliseconds of ``run()`` over ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)
