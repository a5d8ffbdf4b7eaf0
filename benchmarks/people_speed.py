"""What the person model costs on this CPU: ``--model auto`` (the default of video and webcam) beside
``--model u2netp``, live and offline, side by side in one run.

- Live: ``u2live webcam`` at its defaults on a 1280x720 30 fps file paced as a camera (Megamind, people in every
  frame), into pyvirtualcam's real ``Camera`` with a recording backend (no v4l2loopback here: the stand-in at that
  boundary) and a recording: share of the camera's frames delivered, mask refresh rate, capture-to-sink latency.
- Offline: ``u2live video`` at its defaults on the same clip, timed as a whole process (start-up included).

Rows alternate between the two models round by round, so both see the same load; the machine is read from the
machine and the load average is kept beside every row.

    PYTHONPATH=. python benchmarks/people_speed.py [--seconds 20] [--rounds 2] [--offline-frames 240]

Results: ``benchmarks/results/people-speed.{json,md}``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from live_camera import LEAD_SECONDS, VCAM_BACKEND, RecordingCamera, live_run, loadavg, make_clip  # noqa: E402

MODELS = ("auto", "u2netp")
RESULTS = REPO / "benchmarks" / "results"


def offline_run(clip: Path, out: Path, model: str, frames: int) -> dict:
    """``u2live video`` at its defaults but ``--model`` on the clip's first ``frames``, as a user runs it: a whole
    process, wall-clock (start-up included)."""
    load_before = loadavg()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "u2live", "video", str(clip), "-o", str(out), "--model", model,
                           "--max-frames", str(frames)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"u2live video --model {model} failed: {done.stderr.strip().splitlines()[-1:]}")
    frames = int(done.stderr.split("u2live: ")[-1].split(" frames")[0])
    return {"model": model, "frames": frames, "wall_s": round(wall, 2), "fps": round(frames / wall, 2),
            "summary": done.stderr.strip().splitlines()[-1], "load_before": load_before, "load_after": loadavg()}


def live_row(clip: Path, out: Path, model: str) -> dict:
    row = live_run(clip, out, sync=False, background="blur", model={"model": model})
    keep = ("delivered_fps", "camera_fps", "delivered_share", "mask_hz", "latency_ms_p50", "latency_ms_p99",
            "backend", "load_before", "load_after")
    return {"model": model, **{k: row.get(k) for k in keep}}


def markdown(report: dict) -> str:
    lines = ["# --model auto beside --model u2netp on this CPU", "", f"Machine: {report['machine']}", "",
             "## Live (`u2live webcam` defaults, 1280x720 30 fps file paced as a camera)", "",
             "| round | model | delivered FPS / camera FPS | share of camera frames | masks Hz | latency p50 / p99 ms "
             "| load before, after |", "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for row in report["live"]:
        lines.append(f"| {row['round']} | {row['model']} | {row['delivered_fps']} / {row['camera_fps']} | "
                     f"{row['delivered_share']} | {row['mask_hz']} | {row['latency_ms_p50']} / "
                     f"{row['latency_ms_p99']} | {row['load_before']:.1f}, {row['load_after']:.1f} |")
    lines += ["", "## Offline (`u2live video` defaults, the same clip, whole process)", "",
              "| round | model | frames | wall s | FPS | load before, after |",
              "| ---: | --- | ---: | ---: | ---: | --- |"]
    for row in report["offline"]:
        lines.append(f"| {row['round']} | {row['model']} | {row['frames']} | {row['wall_s']} | {row['fps']} | "
                     f"{row['load_before']:.1f}, {row['load_after']:.1f} |")
    ratio = report.get("offline_fps_ratio")
    if ratio:
        lines += ["", f"Offline FPS, auto / u2netp (mean over rounds): {ratio:.2f}x."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--offline-frames", type=int, default=240)
    args = parser.parse_args()
    import pyvirtualcam

    from u2live.bench.machine import describe, machine_info

    pyvirtualcam.register_backend(VCAM_BACKEND, RecordingCamera)
    clip = make_clip("Megamind.avi", args.seconds + LEAD_SECONDS)
    report = {"machine": describe(machine_info()), "clip": clip.name, "live": [], "offline": []}
    with tempfile.TemporaryDirectory(prefix="u2live-people-speed-") as tmp:
        for round_ in range(args.rounds):
            for model in (MODELS if round_ % 2 == 0 else MODELS[::-1]):
                report["live"].append({"round": round_, **live_row(clip, Path(tmp) / "live.mp4", model)})
                report["offline"].append({"round": round_, **offline_run(clip, Path(tmp) / f"{model}.mp4", model,
                                                                       args.offline_frames)})
                print(json.dumps(report["offline"][-1]), json.dumps(report["live"][-1]), flush=True)
    fps = {m: [r["fps"] for r in report["offline"] if r["model"] == m] for m in MODELS}
    report["offline_fps_ratio"] = (sum(fps["auto"]) / len(fps["auto"])) / (sum(fps["u2netp"]) / len(fps["u2netp"]))
    (RESULTS / "people-speed.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "people-speed.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
