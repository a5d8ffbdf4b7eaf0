"""Soak: the live pipeline for a long time from a synthetic camera, sampling the process's RSS; memory must stay flat.

    python benchmarks/soak.py --minutes 30                 # the full run (issue 6): JSON + Markdown in results/
    python benchmarks/soak.py --minutes 0.4 --out /tmp/s   # the short form tests/test_soak.py runs

Real stages (model, temporal smoothing, guided-filter refinement, blurred background) and a real H.264 file sink
(or ``--sink null``); only the camera is synthetic (``SyntheticCamera``: a moving disc on a gradient, paced like a
camera at ``--fps`` keeping only the newest frame, or ``--unpaced`` as fast as the pipeline takes frames). The model
runs at ``--size 64`` by default so the run is mostly pipeline. RSS is read from ``/proc/self/status`` every
``--sample-seconds``; growth is the median RSS of the last tenth of the run over the median of the first minute
after warm-up (default: the first 10% of the run, at least 20 s when the run allows). Exit status 1 when growth is
5% or more.
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

RESULTS = Path(__file__).resolve().parent / "results"
LIMIT_PERCENT = 5.0


def rss_mb() -> float:
    """Resident set size of this process in MiB (``VmRSS`` in /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SyntheticCamera:
    """A Source (``info``, iterable of Frames, ``close``) that draws frames like a camera until ``seconds`` pass.

    Paced: a frame every 1/fps seconds by the clock; a consumer that falls behind gets the newest one (a live
    camera drops stale frames). Unpaced: a frame whenever asked. The picture is a disc moving over a gradient, so
    the smoother and the encoder see motion."""

    def __init__(self, width: int, height: int, fps: float, seconds: float, *, paced: bool = True):
        from u2live.frame import VideoInfo

        self.info = VideoInfo(width=width, height=height, fps=Fraction(fps).limit_denominator(1001), frames=None,
                              audio=None, live=True)
        self.fps, self.seconds, self.paced = fps, seconds, paced
        self._yy, self._xx = np.mgrid[0:height, 0:width]
        self._stop = threading.Event()

    def _image(self, t: float) -> np.ndarray:
        height, width = self._yy.shape
        cx = width * (0.5 + 0.3 * np.sin(t))
        cy = height * (0.5 + 0.2 * np.cos(t * 0.7))
        disc = (self._xx - cx) ** 2 + (self._yy - cy) ** 2 < (min(width, height) / 4) ** 2
        image = np.empty((height, width, 3), np.uint8)  # [H, W, 3]
        image[..., 0] = (self._xx * 255 // max(1, width - 1)).astype(np.uint8)
        image[..., 1] = (self._yy * 255 // max(1, height - 1)).astype(np.uint8)
        image[..., 2] = 96
        image[disc] = (230, 190, 160)
        return image

    def __iter__(self):
        from u2live.frame import Frame

        started = time.perf_counter()
        index = 0
        while not self._stop.is_set():
            now = time.perf_counter()
            if now - started >= self.seconds:
                return
            if self.paced:  # the newest frame: the one whose slot the clock is in now
                slot = int((now - started) * self.fps)
                if slot < index:
                    self._stop.wait((index - (now - started) * self.fps) / self.fps)
                    continue
                index = slot
            pts = index / self.fps
            yield Frame(self._image(pts), pts, index, time.perf_counter())
            index += 1

    def close(self) -> None:
        self._stop.set()


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
    import torch

    from u2live import backends
    from u2live.backgrounds import parse_background
    from u2live.bench.machine import describe, machine_info
    from u2live.bench.pipeline import NullSink  # --sink null: the pipeline without an encoder
    from u2live.pipeline import Stages, run_pipeline
    from u2live.sinks import FileSink
    from u2live.smoothing import make_smoother
    from u2live.stats import PipelineStats

    torch.set_num_threads(args.threads)
    seconds = args.minutes * 60
    camera = SyntheticCamera(args.width, args.height, args.fps, seconds, paced=not args.unpaced)
    with tempfile.TemporaryDirectory(prefix="u2live-soak-") as scratch:
        sink = NullSink() if args.sink == "null" else FileSink(Path(scratch) / "soak.mp4", camera.info)
        segmenter = backends.create("torch", size=args.size, log=lambda line: None)
        stages = Stages(mode="composite", smoother=make_smoother("auto"), background=parse_background(args.bg))
        stats = PipelineStats()
        with RssSampler(args.sample_seconds) as sampler:
            run_pipeline(camera, segmenter, stages, [sink], stats=stats, queue_size=2)
        segmenter.close()
        output_bytes = sum(p.stat().st_size for p in Path(scratch).iterdir())
    warmup = args.warmup if args.warmup is not None else max(min(20.0, seconds / 2), seconds / 10)
    return {"config": {k: v for k, v in vars(args).items() if k != "out"},
            "machine": describe(machine_info()),
            "python": platform.python_version(), "torch": torch.__version__,
            "frames": stats.frames, "wall_s": round(stats.wall_seconds, 1), "fps": round(stats.fps, 2),
            "latency_ms_p50": stats.as_dict()["latency_ms_p50"], "output_bytes": output_bytes,
            "rss": growth(sampler.samples, warmup), "samples": sampler.samples}


def markdown(result: dict) -> str:
    rss, cfg = result["rss"], result["config"]
    verdict = "flat" if rss["growth_percent"] < LIMIT_PERCENT else "GROWING"
    lines = [f"# Soak: {cfg['minutes']:g} min of the live pipeline ({verdict})", "",
             f"Synthetic {cfg['width']}x{cfg['height']} camera at {cfg['fps']:g} fps "
             f"({'unpaced' if cfg['unpaced'] else 'paced, newest frame kept'}), torch backend at size "
             f"{cfg['size']}, smoothing auto, --bg {cfg['bg']}, {cfg['sink']} sink; machine: {result['machine']}.", "",
             "| frames | wall s | FPS | latency p50 ms | RSS after warm-up MiB | RSS at end MiB | max MiB "
             "| growth % | trend MiB/h |", "|---|---|---|---|---|---|---|---|---|",
             f"| {result['frames']} | {result['wall_s']} | {result['fps']} | {result['latency_ms_p50']} "
             f"| {rss['baseline_mb']} | {rss['end_mb']} | {rss['max_mb']} | {rss['growth_percent']} "
             f"| {rss['trend_mb_per_hour']} |", "",
             f"Growth = median RSS of the last tenth of the run over the median of the minute after the "
             f"{rss['warmup_s']:g} s warm-up; the limit is {LIMIT_PERCENT:g}%.", ""]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--unpaced", action="store_true", help="frames as fast as the pipeline takes them")
    parser.add_argument("--size", type=int, default=64, help="model input size (small: mostly pipeline)")
    parser.add_argument("--bg", default="blur")
    parser.add_argument("--sink", choices=("file", "null"), default="file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
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
