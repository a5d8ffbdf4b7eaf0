"""Whether the live path's two dense flows could be one (issue 22): the carrier's and the temporal state's pairs.

``u2live webcam`` computes optical flow in two places: the carrier (:class:`u2live.live.MaskCarrier`, 320 px)
carries the newest mask from the frame it was made on to every frame shown; the motion-compensated smoother
(:class:`u2live.temporal.MotionSmoother`, 160 px) carries its state from the previous mask's frame to the new
mask's frame, once per mask. One flow can serve both only where both ask for the same pair of frames. This runs
the shipped live path (``run_job`` on a live ``RunSpec``, the CPU backend) on clips paced as a camera, records
each pair (by timestamps) and counts the smoother's pairs the carrier also computed; then times one flow at each
working size (prepare + flow, one OpenCV thread) on 1280x720 frames, to say what sharing could save.

    PYTHONPATH=. python benchmarks/flow_pairs.py [--frames 200]

Writes ``benchmarks/results/flow-pairs.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data"
RESULTS = REPO / "benchmarks/results"
CONFIGS = [("u2netp", 320), ("auto", 160)]  # the salient model at the default size; webcam's default model


class PairLog:
    """Patches the carrier and the stages for one run: the (from pts, to pts) of every flow each computes."""

    def __init__(self):
        from u2live import live, pipeline

        self.carrier, self.smoother, self._last = set(), [], None
        self._live, self._pipeline = live, pipeline
        self._to, self._smooth = live.MaskCarrier.to, pipeline.Stages.smooth

    def __enter__(self):
        log, to, smooth = self, self._to, self._smooth

        def carried(carrier, frame):
            if carrier.flow is not None and frame.index != carrier.made_on.index:
                log.carrier.add((round(carrier.made_on.pts, 4), round(frame.pts, 4)))
            return to(carrier, frame)

        def smoothed(stages, image, mask, pts, stats):
            if log._last is not None:
                log.smoother.append((log._last, round(pts, 4)))
            log._last = round(pts, 4)
            return smooth(stages, image, mask, pts, stats)

        self._live.MaskCarrier.to, self._pipeline.Stages.smooth = carried, smoothed
        return self

    def __exit__(self, *exc):
        self._live.MaskCarrier.to, self._pipeline.Stages.smooth = self._to, self._smooth


def pairs_row(clip: Path, model: str, size: int, frames: int) -> dict:
    from u2live.job import run_job
    from u2live.spec import ModelSpec, RunSpec

    with tempfile.TemporaryDirectory() as scratch, PairLog() as log:
        spec = RunSpec(str(clip), live=True, model=ModelSpec(model=model, size=size, backend="cpu"),
                       output=Path(scratch) / "out.mp4", max_frames=frames, progress=False)
        stats = run_job(spec)
    shared = sum(pair in log.carrier for pair in log.smoother)
    return {"clip": clip.name, "model": model, "size": size, "frames": stats.frames, "masks": stats.masks,
            "carrier_flows": len(log.carrier), "smoother_flows": len(log.smoother), "same_pair": shared}


def flow_ms(clip: Path, size: int, count: int = 60) -> float:
    """Milliseconds of prepare + flow per frame pair at ``size`` on 1280x720 frames of ``clip``."""
    import cv2

    from u2live.flow import FlowEstimator

    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < count and (read := capture.read())[0]:
        frames.append(cv2.resize(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB), (1280, 720)))
    estimator = FlowEstimator(size)
    best = float("inf")
    for _ in range(3):  # the quickest of three rounds: the least disturbed by other processes
        began = time.perf_counter()
        previous = estimator.prepare(frames[0])
        for frame in frames[1:]:
            estimator.flow(previous, frame, check=False)
            previous = estimator.prepare(frame)
        best = min(best, (time.perf_counter() - began) / (len(frames) - 1))
    return round(best * 1000, 2)


def markdown(report: dict) -> str:
    lines = ["# The live path's two flows: the same pair of frames?", "",
             f"Machine: {report['machine']}. Clips paced as a camera, CPU backend, the model beside the picture "
             "(``u2live webcam``); each pair counted by the timestamps of its two frames.", "",
             "| clip | model | size | frames | masks | carrier flows | smoother flows | smoother pairs the carrier "
             "also computed |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['clip']} | {r['model']} | {r['size']} | {r['frames']} | {r['masks']} | {r['carrier_flows']} "
              f"| {r['smoother_flows']} | {r['same_pair']} |" for r in report["pairs"]]
    lines += ["", "One flow (prepare + DIS ultrafast, one thread, 1280x720 Megamind frames, quickest of three "
              "rounds): " + ", ".join(f"{size} px {ms} ms" for size, ms in report["flow_ms"].items()) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    import cv2

    from u2live.bench.machine import describe, machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    report = {"machine": describe(machine_info()),
              "pairs": [pairs_row(DATA / name, model, size, args.frames)
                        for name in ("vtest.avi", "Megamind.avi") for model, size in CONFIGS],
              "flow_ms": {size: flow_ms(DATA / "Megamind.avi", size) for size in (160, 320)}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "flow-pairs.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "flow-pairs.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
