"""The GPU verification kit (benchmarks/gpu_check.sh) in its CPU dry run: every step runs on the CPU, small, and
leaves the result files the device tool brings back. What it measures here says nothing about a GPU; the test keeps
the kit working while the code it drives changes: the wheel install line, the media lookup, the step time limits
and the rule that a skipped test fails the tests step."""
import os
import subprocess
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = ("gpu-check.log", "parity.json", "bench.json", "bench.md", "bench-person.json", "e2e.json", "e2e.md",
           "gpu-profile.json", "gpu-profile.txt")


def tiny_wheel(folder: Path) -> Path:
    """A real, minimal wheel (one module), as pip installs it with --no-index --target."""
    folder.mkdir()
    path = folder / "kitprobe-1.0-py3-none-any.whl"
    info = "kitprobe-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("kitprobe.py", "VALUE = 1\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: kitprobe\nVersion: 1.0\n")
        wheel.writestr(f"{info}/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", f"kitprobe.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return folder


def test_dry_run_passes_every_step_and_writes_every_result(tmp_path, megamind):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1", "KIT_WHEELS": str(tiny_wheel(tmp_path / "whl")),
           "U2LIVE_MEDIA": str(megamind.parent)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    log = (out / "gpu-check.log").read_text()
    assert done.returncode == 0, done.stdout[-2000:] + log[-3000:]
    assert "every step passed" in done.stdout
    assert "== wheels: installed kitprobe-1.0-py3-none-any.whl" in log
    assert f"== media: {megamind.parent.resolve()}" in log
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULTS)


def run_steps(tmp_path, script: str) -> subprocess.CompletedProcess:
    body = (f'log={tmp_path}/log; : >"$log"; source {REPO}/benchmarks/gpu_kit_steps.sh\n'
            f'{script}\necho "failed: ${{failed[*]}}"')
    return subprocess.run(["bash", "-c", body], capture_output=True, text=True, timeout=60)


def test_a_step_past_its_limit_is_stopped_and_the_next_one_runs(tmp_path):
    done = run_steps(tmp_path, "step slow 1 sleep 30\nstep quick 10 true")
    assert "== slow: stopped at its 1 s limit" in done.stdout
    assert "== quick: exit 0" in done.stdout
    assert done.stdout.strip().endswith("failed: slow")


def test_the_kit_deadline_bounds_every_step(tmp_path):
    done = run_steps(tmp_path, "KIT_DEADLINE=8\nstep first 60 sleep 30\nstep second 60 true")
    assert "== first (limit 8 s)" in done.stdout
    assert "== second: not run, the kit's 8 s are spent" in done.stdout
    assert done.stdout.strip().endswith("failed: first second")


def test_a_skipped_test_fails_the_tests_step(tmp_path):
    (tmp_path / "test_probe.py").write_text(
        "import pytest\n\ndef test_runs():\n    pass\n\n"
        "@pytest.mark.skip(reason='needs an NVIDIA GPU')\ndef test_gpu():\n    pass\n\n"
        "@pytest.mark.skip(reason='needs torch-tensorrt')\ndef test_trt():\n    pass\n")
    script = REPO / "benchmarks" / "pytest_no_skips.sh"
    skipped = subprocess.run(["bash", str(script), str(tmp_path / "test_probe.py")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert skipped.returncode == 1 and "unexpected skips" in skipped.stdout and "NVIDIA GPU" in skipped.stdout
    only_trt = subprocess.run(["bash", str(script), str(tmp_path / "test_probe.py"), "-k", "not test_gpu"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert only_trt.returncode == 0, only_trt.stdout
