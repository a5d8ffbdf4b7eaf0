"""The GPU verification kit (benchmarks/gpu_check.sh) in its CPU dry run: every step runs on the CPU, small, and
leaves the eight result files the device tool brings back. What it measures here says nothing about a GPU; the
test keeps the kit working while the code it drives changes."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = ("gpu-check.log", "parity.json", "bench.json", "bench.md", "bench-fps.png", "bench-latency.png",
           "e2e.json", "e2e.md")


def test_dry_run_passes_every_step_and_writes_every_result(tmp_path, megamind):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + (tmp_path / "gpu-check.log").read_text()[-3000:]
    assert "every step passed" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RESULTS)
