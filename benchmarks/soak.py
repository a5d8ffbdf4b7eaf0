"""Soak: the live path ``u2live webcam`` ships, for a long time, sampling the process's RSS; memory must stay flat.

    python benchmarks/soak.py --minutes 30                 # the full run (issue 6): JSON + Markdown in results/
    python benchmarks/soak.py --minutes 0.4 --out /tmp/s   # the short form tests/test_soak.py runs

The run is ``u2live webcam`` (:func:`u2live.job.run_job` on a live :class:`u2live.spec.RunSpec`: the model beside
the picture on the CPU backend, :func:`u2live.live.run_live`), fed by a file paced as a camera (newest frame kept),
as ``benchmarks/live_camera.py`` runs it: a synthetic clip (a disc moving over a gradient, so the smoothing, the
warp and the encoder see motion) written for the run's length into a scratch folder, then played live. Webcam's
defaults (``--model auto``, int8) at a pinned ``--size`` (160 by default: the model's size does not move during the
run, so memory that grows is the pipeline's); a real H.264 recording (``-o``, x264 ultrafast as webcam records) or
``--sink null`` (no output). RSS is read from ``/proc/self/status`` every ``--sample-seconds``; growth is the median
RSS of the last tenth of the run over the median of the first minute after warm-up (default: the first 10% of the
run, at least 20 s when the run allows). Exit status 1 when growth is 5% or more.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's u2live, whichever is installed

RESULTS = REPO / "benchmarks" / "results"
LIMIT_PERCENT = 5.0
#: the clip plays from the moment it opens, as a camera does, while the model loads: it runs this much longer
LOAD_SECONDS = 10.0


def rss_mb() -> float:
    """Resident set size of this process in MiB (``VmRSS`` in /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def picture(yy: np.ndarray, xx: np.ndarray, t: float) -> np.ndarray:
    """[H, W, 3] uint8 RGB at ``t`` seconds: a skin-toned disc moving over a gradient."""
    height, width = yy.shape
    cx = width * (0.5 + 0.3 * np.sin(t))
    cy = height * (0.5 + 0.2 * np.cos(t * 0.7))
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < (min(width, height) / 4) ** 2
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (xx * 255 // max(1, width - 1)).astype(np.uint8)
    image[..., 1] = (yy * 255 // max(1, height - 1)).astype(np.uint8)
    image[..., 2] = 96
    image[disc] = (230, 190, 160)
    return image


def write_clip(path: Path, width: int, height: int, fps: float, seconds: float) -> Path:
    """The camera's picture for ``seconds`` as an H.264 file at ``fps`` (written as fast as it encodes)."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture(yy, xx, index / fps), format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class RssSampler:
    """A thread sampling RSS every ``period`` seconds into ``samples`` [(seconds since start, MiB)]."""

    def __init__(self, period: float):
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)
        self._started = time.perf_counter()

    def _run(self) -> None:
        while True:
            self.samples.append((round(time.perf_counter() - self._started, 2), round(rss_mb(), 2)))
            if self._stop.wait(self.period):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((round(time.perf_counter() - self._started, 2), round(rss_mb(), 2)))


def growth(samples: list[tuple[float, float]], warmup: float) -> dict:
    """Baseline: median RSS over the minute after warm-up; end: median over the last tenth of the run."""
    total = samples[-1][0]
    after = [(t, mb) for t, mb in samples if t >= warmup]
    if len(after) < 4:
        raise SystemExit(f"soak: too few samples after the {warmup:.0f} s warm-up ({len(after)}): run longer")
    base_window = [mb for t, mb in after if t < warmup + min(60.0, (total - warmup) / 4)] or [after[0][1]]
    end_window = [mb for t, mb in after if t >= total - max(total / 10, 2.0)] or [after[-1][1]]
    baseline, end = statistics.median(base_window), statistics.median(end_window)
    times = np.array([t for t, _ in after])
    slope = float(np.polyfit(times, [mb for _, mb in after], 1)[0]) * 3600 if np.ptp(times) > 0 else 0.0
    return {"warmup_s": round(warmup, 1), "baseline_mb": round(baseline, 2), "end_mb": round(end, 2),
            "max_mb": round(max(mb for _, mb in after), 2),
            "growth_percent": round((end - baseline) / baseline * 100, 3),
            "trend_mb_per_hour": round(slope, 2)}


def run(args) -> dict:
    from u2live.bench.machine import describe, machine_info
    from u2live.job import run_job
    from u2live.spec import ModelSpec, RunSpec

    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="u2live-soak-") as scratch:
        clip = write_clip(Path(scratch) / "camera.mp4", args.width, args.height, args.fps, seconds + LOAD_SECONDS)
        output = Path(scratch) / "soak.mp4" if args.sink == "file" else None
        spec = RunSpec(str(clip), live=True, model=ModelSpec(model=args.model, size=args.size, backend="cpu"),
                       background=args.bg, output=output, progress=False)
        with RssSampler(args.sample_seconds) as sampler:
            stats = run_job(spec)
        output_bytes = output.stat().st_size if output is not None else 0
    warmup = args.warmup if args.warmup is not None else max(min(20.0, seconds / 2), seconds / 10)
    data = stats.as_dict()
    return {"config": {k: v for k, v in vars(args).items() if k != "out"},
            "machine": describe(machine_info()), "python": platform.python_version(), "backend": stats.backend,
            "frames": stats.frames, "wall_s": round(stats.wall_seconds, 1), "fps": round(stats.fps, 2),
            "delivered_share": data["delivered_share"], "mask_hz": data["mask_hz"],
            "latency_ms_p50": data["latency_ms_p50"], "output_bytes": output_bytes,
            "rss": growth(sampler.samples, warmup), "samples": sampler.samples}


def markdown(result: dict) -> str:
    rss, cfg = result["rss"], result["config"]
    verdict = "flat" if rss["growth_percent"] < LIMIT_PERCENT else "GROWING"
    lines = [f"# Soak: {cfg['minutes']:g} min of the live pipeline ({verdict})", "",
             f"``u2live webcam`` (the model beside the picture) on a synthetic {cfg['width']}x{cfg['height']} clip "
             f"paced as a {cfg['fps']:g} fps camera, newest frame kept: {result['backend']}, smoothing auto, "
             f"--bg {cfg['bg']}, {cfg['sink']} sink; machine: {result['machine']}.", "",
             "| frames | wall s | FPS | delivered | masks/s | latency p50 ms | RSS after warm-up MiB "
             "| RSS at end MiB | max MiB | growth % | trend MiB/h |", "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| {result['frames']} | {result['wall_s']} | {result['fps']} | {result['delivered_share']} "
             f"| {result['mask_hz']} | {result['latency_ms_p50']} | {rss['baseline_mb']} | {rss['end_mb']} "
             f"| {rss['max_mb']} | {rss['growth_percent']} | {rss['trend_mb_per_hour']} |", "",
             f"Growth = median RSS of the last tenth of the run over the median of the minute after the "
             f"{rss['warmup_s']:g} s warm-up; the limit is {LIMIT_PERCENT:g}%.", ""]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--model", default="auto", help="--model (webcam's default: auto)")
    parser.add_argument("--size", type=int, default=160, help="--size, pinned (the smallest of --size auto's)")
    parser.add_argument("--bg", default="blur")
    parser.add_argument("--sink", choices=("file", "null"), default="file")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default 10%% of the run, >= 20 s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for soak-*.json and soak-*.md")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"soak-{args.minutes:g}min-{args.sink}"
    Path(f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    Path(f"{stem}.md").write_text(markdown(result))
    rss = result["rss"]
    print(f"soak: {result['frames']} frames in {result['wall_s']} s ({result['fps']} FPS); RSS "
          f"{rss['baseline_mb']} -> {rss['end_mb']} MiB ({rss['growth_percent']:+.2f}%, limit {LIMIT_PERCENT:g}%); "
          f"{stem}.json")
    return 0 if rss["growth_percent"] < LIMIT_PERCENT else 1


if __name__ == "__main__":
    sys.exit(main())
