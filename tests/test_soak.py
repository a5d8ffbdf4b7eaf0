"""The soak benchmark in its short form: benchmarks/soak.py runs ``u2live webcam``'s live path (the CPU backend, the
model beside the picture) on a synthetic clip paced as a camera, with a real H.264 recording, for ~35 s, sampling
RSS every second; memory after warm-up must stay flat (growth < 5%). The full 30-minute run's result is in
benchmarks/results/soak-30min-file.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


def test_short_soak_keeps_memory_flat(tmp_path):
    result = subprocess.run([sys.executable, str(SOAK), "--minutes", "0.4", "--sample-seconds", "1",
                             "--width", "160", "--height", "120", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "soak-0.4min-file.json").read_text())
    assert data["frames"] > 0 and data["output_bytes"] > 0
    assert len(data["samples"]) >= 20
    assert data["rss"]["growth_percent"] < 5.0
    assert (tmp_path / "soak-0.4min-file.md").read_text().startswith("# Soak: 0.4 min of the live pipeline (flat)")
