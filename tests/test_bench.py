"""``u2live bench``: plans, clocks, memory probes, the synthetic clip, the JSON it writes, and its pipeline FPS
against ``u2live video``'s wall clock. No timed assertions on speed itself (figures live in benchmarks/)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from u2live import backends
from u2live.backends.base import Segmenter
from u2live.bench import measure
from u2live.bench.clip import write_clip
from u2live.bench.model import PAPER, Config, add_ratios, plan
from u2live.cli import main
from u2live.errors import U2LiveError
from u2live.bench.machine import cpu_features, describe, machine_info

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """12 frames of the built-in synthetic clip at 320x240 (small, so the suite stays quick)."""
    return write_clip(tmp_path_factory.mktemp("bench") / "clip.mp4", frames=12, width=320, height=240)


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- machine info -------------------------------------------------------------------------------------------------

def test_machine_info_names_cpu_cores_memory_and_versions():
    info = machine_info("cores shared")
    assert info["cpu"] and info["cores_logical"] >= 1 and info["ram_gb"] > 0
    assert info["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert info["versions"]["av"] == av.__version__
    assert info["gpu"] is None or info["gpu"]["name"]
    assert "cores shared" in describe(info) and info["cpu"] in describe(info)
    json.dumps(info)  # JSON-ready


def test_the_machine_is_named_from_the_machine_with_its_vector_instructions_and_load():
    """No constant names the machine: the CPU's vector instructions come from its flags, the load from the OS."""
    flags = "fpu sse avx avx2 fma avx512f avx512bw avx512_vnni amx_bf16 amx_tile amx_int8"
    assert cpu_features(flags) == ["AVX2", "AVX-512", "AVX-512 VNNI", "AMX-INT8", "AMX-BF16"]
    assert cpu_features("fpu sse avx avx2 fma") == ["AVX2"] and cpu_features("fpu sse avx_vnni") == ["AVX-VNNI"]
    info = {**machine_info(), "cpu": "Some CPU", "isa": ["AVX2"], "cores_usable": 2, "ram_gb": 8.0, "gpu": None,
            "load_average": [1.5, 1.0, 0.5], "load_average_end": [2.0, 1.1, 0.5]}
    assert describe(info) == ("Some CPU (AVX2), 2 cores, 8.0 GiB RAM, no GPU; load average 1.5 1 0.5 at the start, "
                              "2 1.1 0.5 at the end")
    assert describe({**info, "isa": []}).startswith("Some CPU (no AVX2), 2 cores")
    here = machine_info()
    if Path("/proc/cpuinfo").exists() and "flags" in Path("/proc/cpuinfo").read_text():
        assert isinstance(here["isa"], list) and len(here["load_average"]) == 3


# --- plans ----------------------------------------------------------------------------------------------------------

class FakeGPUSegmenter(Segmenter):
    """Fake at the GPU boundary: a backend this machine cannot run, to check it is reported, not run."""

    @classmethod
    def unavailable_reason(cls):
        return "no CUDA GPU (fake backend for the test)"

    def infer(self, batch):
        raise AssertionError("must not run")


def test_plan_defaults_to_every_usable_backend_at_the_precision_video_runs(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "fakegpu", FakeGPUSegmenter)
    configs, skipped = plan([], [], [320], [1])
    usable = [name for name, cls in backends.BACKENDS.items() if cls.unavailable_reason() is None]
    assert [c.backend for c in configs] == usable
    assert all(c.precision is None and c.size == 320 and c.batch == 1 for c in configs)
    assert "fakegpu: no CUDA GPU (fake backend for the test)" in skipped
    assert len(skipped) == len(backends.BACKENDS) - len(usable)  # every unusable backend says why
    # what `u2live video` and `webcam` run under --precision auto: INT8 on the CPU backend, the default elsewhere
    assert Config("cpu", None, 320, 1).options("u2netp", None)["precision"] == "int8"
    assert Config("torch", None, 320, 1).options("u2netp", None)["precision"] is None
    assert Config("cpu", "fp32", 320, 1).options("u2netp", None)["precision"] == "fp32"
    assert Config("cpu", None, 256, 1).options("selfie", None)["precision"] is None  # as --model auto runs it


def test_live_rows_get_no_ratio_to_the_reference_model():
    """A live row delivers at most the camera's rate: its FPS over the model's would compare a pace with a speed
    (a 30 FPS camera against a 0.5 FPS reference printed '60.05x')."""
    reference = {"backend": "reference", "stage": "model", "fps": 0.5}
    rows = [reference, {"backend": "cpu", "stage": "model", "fps": 9.0},
            {"backend": "cpu", "stage": "pipeline", "path": "offline", "fps": 4.0},
            {"backend": "cpu", "stage": "pipeline", "path": "live", "fps": 30.0},
            {"backend": "cpu", "stage": "pipeline", "path": "live-sync", "fps": 8.0}]
    add_ratios(rows, reference)
    assert [row.get("ratio_to_reference") for row in rows] == [1.0, 18.0, 8.0, None, None]


def test_plan_is_the_product_of_the_requested_values():
    configs, _ = plan(["torch", "auto", "torch"], ["fp32"], [320, 192], [1, 4])
    assert configs == [Config("torch", "fp32", s, b) for s in (320, 192) for b in (1, 4)]


def test_plan_rejects_an_unknown_backend():
    with pytest.raises(U2LiveError, match="unknown backend 'nope'"):
        plan(["nope"], [], [320], [1])


# --- clocks and memory ------------------------------------------------------------------------------------------

def test_time_calls_warms_up_then_times_each_run():
    calls = []
    latencies = measure.time_calls(lambda: (calls.append(1), time.sleep(0.01)), runs=3, warmup=2,
                                   device=torch.device("cpu"))
    assert len(calls) == 5 and len(latencies) == 3
    assert all(ms >= 9.0 for ms in latencies)  # a sleep of 10 ms cannot be timed shorter (not a speed claim)


def test_summarise_counts_frames_of_every_batch():
    summary = measure.summarise([100.0, 100.0, 200.0, 200.0], batch=4)
    assert summary["fps"] == pytest.approx(16 / 0.6, rel=1e-3)
    assert summary["latency_ms_p50"] == 150.0 and 196.0 < summary["latency_ms_p99"] <= 200.0
    assert summary["runs"] == 4 and len(summary["latencies_ms"]) == 4


def test_peak_rss_is_per_configuration_not_process_wide():
    with measure.PeakMemory(torch.device("cpu")) as big:
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        block.sum()
    del block
    with measure.PeakMemory(torch.device("cpu")) as small:
        np.ones(2**20).sum()
    assert big.peak_rss_mb is not None and small.peak_rss_mb is not None
    if small.rss_scope == "configuration":
        assert big.peak_rss_mb - small.peak_rss_mb > 150
    assert big.peak_device_mb is None  # no device memory on the CPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA (CUDA events, device "
                                                           "memory); run on a GPU host")
def test_cuda_events_time_gpu_work_and_device_memory_is_measured():
    device = torch.device("cuda")
    x = torch.randn(2048, 2048, device=device)
    with measure.PeakMemory(device) as memory:
        latencies = measure.time_calls(lambda: x @ x, runs=3, warmup=1, device=device)
    assert len(latencies) == 3 and all(ms > 0 for ms in latencies)
    assert memory.peak_device_mb >= 16  # x and one product, 16 MiB each


# --- the synthetic clip ----------------------------------------------------------------------------------------

def test_synthetic_clip_decodes_with_a_moving_figure(clip):
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (240, 320, 3)
    moved = np.abs(frames[0].astype(int) - frames[5].astype(int)).mean()
    assert moved > 5  # the figure moves, the background does not stay identical by accident
    assert frames[0].std() > 20  # textured, not flat


def test_synthetic_clip_rejects_odd_sizes(tmp_path):
    with pytest.raises(U2LiveError, match="even positive sizes"):
        write_clip(tmp_path / "x.mp4", width=321)


# --- the command ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_run(clip, tmp_path_factory):
    """One short model-only run: 2 sizes x 2 batches of the torch backend, 2 timed frames each."""
    out = tmp_path_factory.mktemp("run") / "bench.json"
    result = run_cli("bench", "--input", str(clip), "--only", "model", "--backend", "torch", "--size", "64,96",
                     "--batch", "1", "--batch", "2", "--frames", "2", "--json", str(out), "--note", "test")
    assert result.exit_code == 0, result.output
    return result, out


def test_bench_model_only_writes_json_with_the_reference_and_ratios(model_run):
    result, out = model_run
    report = json.loads(out.read_text())
    assert report["machine"]["note"] == "test" and report["paper"]["fps"] == PAPER["fps"]
    reference, *rows = report["results"]
    assert reference["backend"] == "reference" and reference["size"] == 320 and reference["ratio_to_reference"] == 1
    assert [(r["size"], r["batch"]) for r in rows] == [(64, 1), (64, 2), (96, 1), (96, 2)]
    for row in rows:
        assert row["stage"] == "model" and row["precision"] == "fp32" and row["fps"] > 0
        assert row["ratio_to_reference"] == pytest.approx(row["fps"] / reference["fps"], rel=1e-2)
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p99"] and row["peak_rss_mb"] > 0
    assert "paper" in result.stdout and "40 FPS" in result.stdout and "reference" in result.stdout
    assert "FPS / ref FPS" in result.stdout and "FPS / ref FPS: the row's frames a second divided by the " \
        "reference's, the authors' FP32 eager model alone" in " ".join(result.stdout.split())


def test_bench_at_its_defaults_measures_the_cpu_at_int8_as_video_runs_it(clip, tmp_path):
    """No --precision: the CPU backend at INT8, what `u2live video` and `webcam` run there by default (it once
    measured FP32, which no default command runs on the CPU)."""
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--input", str(clip), "--only", "model", "--backend", "cpu", "--size", "64",
                     "--frames", "1", "--no-reference", "--json", str(out))
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["results"]
    assert (row["backend"], row["precision"]) == ("cpu", "int8") and row["fps"] > 0


def test_report_script_turns_results_into_markdown_and_plots(model_run, tmp_path):
    pytest.importorskip("matplotlib", reason="the plots need matplotlib: pip install 'u2live[bench]'")
    _, out = model_run
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "report.py"), str(out), "--out-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "bench.md").read_text()
    assert "| reference | reference | fp32 | 320 | 1 |" in table and "| model | torch | fp32 | 96 | 2 |" in table
    assert "GTX 1080 Ti" in table and "test" in table  # the paper's figure, labelled; the machine note
    for name in ("bench-fps.png", "bench-latency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, code, message", [
    (["--size", "100"], 1, "multiple of 32"),
    (["--batch", "0"], 2, "--batch"),
    (["--backend", "nope"], 2, "nope"),
    (["--input", "/no/such/clip.mp4"], 2, "does not exist"),
])
def test_bench_rejects_bad_options_in_one_line(args, code, message):
    done = subprocess.run([sys.executable, "-m", "u2live", "bench", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr


# --- the pipeline, against u2live video -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline_run(clip, tmp_path_factory):
    """The offline and live pipeline paths of the torch backend on the 12-frame clip (no reference: the model-only
    test covers it)."""
    out = tmp_path_factory.mktemp("pipe") / "pipeline.json"
    result = run_cli("bench", "--input", str(clip), "--only", "offline,live,live-sync", "--backend", "torch",
                     "--frames", "12",
                     "--no-reference", "--json", str(out))
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_bench_pipeline_reports_every_stage_and_live_latency(pipeline_run):
    offline, live, sync = [row for row in pipeline_run["results"] if row["stage"] == "pipeline"]
    assert offline["path"] == "offline" and offline["frames"] == 12 and offline["latency_ms_p50"] is None
    assert set(offline["stage_ms"]) == {"decode", "preprocess", "inference", "smoothing", "warp", "refine",
                                        "composite", "encode"}
    assert offline["stage_ms"]["inference"] > 0 and offline["stage_ms"]["encode"] > 0
    assert offline["delivered_fps"] is None and offline["mask_hz"] is None  # live figures on live rows only
    for row in (live, sync):
        assert row["frames"] >= 1  # a paced live source drops what the model cannot take
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p99"]
        assert row["camera_fps"] == pipeline_run["clip"]["fps"] and 0 < row["delivered_share"] <= 1.0
        assert 0 <= row["mask_age_ms_p50"] <= row["mask_age_ms_p99"]
    assert (live["path"], sync["path"]) == ("live", "live-sync") and sync["mask_age_ms_p99"] == 0.0
    assert "Live paths" in pipeline_run_table(pipeline_run)
    assert "ratio_to_reference" not in offline  # --no-reference


def pipeline_run_table(report: dict) -> str:
    from u2live.bench import format_table

    return format_table(report)
