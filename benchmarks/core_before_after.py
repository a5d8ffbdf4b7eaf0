"""Issue 22's check: the frame core after a restructuring against a checkout of the code before it, side by side in
one run, on the CPU: the same pictures, and no slower.

    git worktree add /tmp/u2live-before <commit before the change>
    PYTHONPATH=. python benchmarks/core_before_after.py --before /tmp/u2live-before [--rounds 2]

Each measure runs in a child process per checkout (``sys.path`` puts that checkout's ``u2live`` first, and the child
says which it imported); the checkouts alternate round by round so both see the same load, which is kept beside
every row with the machine read from the machine.

- render: CPU time of one thread per frame of ``Stages.render`` (the motion smoother, refinement and compositing
  over the blurred background: everything after the model) on Megamind frames 90-149 scaled to 1280x720, from the
  same 320x320 masks; the finished frames of both checkouts are compared pixel for pixel.
- offline: ``u2live video`` at its defaults (``--model auto``) on Megamind, a whole process, wall clock; the two
  outputs are decoded and compared frame by frame.
- live: ``u2live webcam`` at its defaults on a 1280x720 30 fps Megamind file paced as a camera
  (``live_camera.live_run``): share of the camera's frames delivered, mask refresh rate, latency.

Results: ``benchmarks/results/core-before-after.{json,md}`` (``--out`` another name).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
from live_camera import DATA, REPO, RESULTS, loadavg  # this folder is first on sys.path: the script's own

FIRST, COUNT, SIZE = 90, 60, (1280, 720)


def clip_frames() -> list[np.ndarray]:
    with av.open(str(DATA / "Megamind.avi")) as clip:
        frames = [f.to_ndarray(format="rgb24") for i, f in zip(range(FIRST + COUNT), clip.decode(video=0))]
    return [cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in frames[FIRST:]]


# --- children: run with one checkout's u2live first on sys.path -------------------------------------------------

def child_render(work: Path) -> dict:
    """Stages.render per frame, one thread; the finished frames saved for the comparison."""
    from u2live.backgrounds import parse_background
    from u2live.pipeline import Stages
    from u2live.smoothing import make_smoother
    from u2live.stats import PipelineStats

    cv2.setNumThreads(1)
    masks = np.load(work / "masks.npy")
    frames = clip_frames()
    old_api = not Path(sys.modules["u2live"].__file__).with_name("kernels.py").exists()
    if old_api:  # before the change the stages took CPU tensors (zero-copy views, as its Uploader made them)
        import torch

        torch.set_num_threads(1)
        wrap = torch.from_numpy
    else:
        wrap = np.asarray
    stages = Stages(mode="composite", smoother=make_smoother("auto"), background=parse_background("blur"))
    spent, outputs, stats = [], [], PipelineStats()
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        began = time.thread_time()
        out = stages.render(wrap(frame), wrap(mask), i / 24, stats)
        spent.append(1000 * (time.thread_time() - began))
        outputs.append(out)
    stages.close()
    np.save(work / f"render-{'before' if old_api else 'after'}.npy", np.stack(outputs))
    return {"cpu_ms_median": round(float(np.median(spent[1:])), 2), "cpu_ms_mean": round(float(np.mean(spent[1:])), 2)}


def child_offline(work: Path, name: str) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "u2live", "video", str(DATA / "Megamind.avi"), "-o",
                           str(work / f"offline-{name}.mp4")], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"u2live video failed: {done.stderr.strip().splitlines()[-1:]}")
    frames = int(done.stderr.split("u2live: ")[-1].split(" frames")[0])
    return {"frames": frames, "wall_s": round(wall, 2), "fps": round(frames / wall, 2)}


def child_live(work: Path) -> dict:
    import pyvirtualcam
    from live_camera import LEAD_SECONDS, VCAM_BACKEND, RecordingCamera, live_run, make_clip

    pyvirtualcam.register_backend(VCAM_BACKEND, RecordingCamera)
    clip = make_clip("Megamind.avi", 20 + LEAD_SECONDS)
    row = live_run(clip, work / "live.mp4", sync=False, background="blur")
    keep = ("delivered_fps", "camera_fps", "delivered_share", "mask_hz", "latency_ms_p50", "latency_ms_p99",
            "mask_age_ms_p50", "backend")
    main_loop = row["cores_by_thread"].get("main loop (flow, render)")  # cores the picture's thread used
    return {**{k: row.get(k) for k in keep}, "main_loop_cores": main_loop}


def child(measure: str, code: Path, work: Path, name: str) -> None:
    sys.path.insert(0, str(code))  # before live_camera's (imported above), which put this repository first
    import u2live

    assert Path(u2live.__file__).resolve().is_relative_to(code.resolve()), u2live.__file__
    load = loadavg()
    row = {"render": child_render, "live": child_live}.get(measure)
    result = row(work) if row else child_offline(work, name)
    print(json.dumps({**result, "code": name, "load_before": load, "load_after": loadavg()}))


# --- the driver ---------------------------------------------------------------------------------------------------

def run_child(measure: str, code: Path, work: Path, name: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", measure, "--code", str(code), "--work", str(work),
                           "--name", name], capture_output=True, text=True, cwd=str(work),
                          env={**os.environ, "PYTHONPATH": str(code)})
    if done.returncode:
        raise SystemExit(f"{measure} on {name} failed:\n{done.stderr[-3000:]}")
    return {"measure": measure, **json.loads(done.stdout.strip().splitlines()[-1])}


def decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as clip:
        return np.stack([f.to_ndarray(format="rgb24") for f in clip.decode(video=0)])


def difference(a: np.ndarray, b: np.ndarray) -> dict:
    if a.shape != b.shape:
        return {"shapes": [list(a.shape), list(b.shape)]}
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"frames": len(a), "max_levels": int(diff.max()), "mean_levels": round(float(diff.mean()), 5),
            "pixels_differing": round(float((diff > 0).mean()), 6)}


def masks_for(work: Path) -> None:
    from u2live import backends

    with backends.create("cpu", model="u2netp", size=320, precision="fp32", log=lambda line: None) as segmenter:
        np.save(work / "masks.npy", np.stack([segmenter.predict([f])[0] for f in clip_frames()]))


def markdown(report: dict) -> str:
    lines = [f"# {report['title']}", "", f"Machine: {report['machine']}; "
             f"before: `{report['before']}`, after: `{report['after']}`.", "",
             "| round | measure | code | figure | load before, after |", "| ---: | --- | --- | --- | --- |"]
    for row in report["rows"]:
        if row["measure"] == "render":
            figure = f"{row['cpu_ms_median']} ms CPU per 1280x720 frame (median; mean {row['cpu_ms_mean']})"
        elif row["measure"] == "offline":
            figure = f"{row['frames']} frames in {row['wall_s']} s: {row['fps']} FPS"
        else:
            figure = (f"{row['delivered_share']} of the camera's frames, masks {row['mask_hz']} Hz, latency p50 "
                      f"{row['latency_ms_p50']} ms, main loop {row.get('main_loop_cores')} cores ({row['backend']})")
        lines.append(f"| {row['round']} | {row['measure']} | {row['code']} | {figure} | "
                     f"{row['load_before']:.1f}, {row['load_after']:.1f} |")
    lines += ["", "Ratios after / before (mean over rounds):", ""]
    lines += [f"- {name}: {value:.3f}" for name, value in report["ratios"].items()]
    lines += ["", "The same pictures:", ""]
    lines += [f"- {name}: {json.dumps(value)}" for name, value in report["same_pictures"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", choices=["render", "offline", "live"], action="append", default=[])
    parser.add_argument("--out", default="core-before-after", help="results name under benchmarks/results/")
    parser.add_argument("--title", default="The frame core before and after (issue 22), side by side")
    parser.add_argument("--child", choices=["render", "offline", "live"])
    parser.add_argument("--code", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--name")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.code, args.work, args.name)
        return
    sys.path.insert(0, str(REPO))
    from u2live.bench.machine import describe, machine_info

    sides = {"before": args.before.resolve(), "after": REPO}
    commits = {k: subprocess.run(["git", "-C", str(v), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() for k, v in sides.items()}
    report = {"machine": describe(machine_info()), **commits, "rows": []}
    measures = [m for m in ("render", "offline", "live") if m not in args.skip]
    with tempfile.TemporaryDirectory(prefix="u2live-core-") as tmp:
        work = Path(tmp)
        masks_for(work)
        for round_ in range(args.rounds):
            for measure in measures:
                for name in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                    report["rows"].append({"round": round_, **run_child(measure, sides[name], work, name)})
                    print(json.dumps(report["rows"][-1]), flush=True)
        same = {}
        if "render" in measures:
            same["render (Stages.render, 60 frames)"] = difference(np.load(work / "render-before.npy"),
                                                                  np.load(work / "render-after.npy"))
        if "offline" in measures:
            same["offline (u2live video, decoded)"] = difference(decoded(work / "offline-before.mp4"),
                                                                decoded(work / "offline-after.mp4"))
    report["same_pictures"] = same
    key = {"render": "cpu_ms_median", "offline": "fps", "live": "delivered_share"}
    report["ratios"] = {}
    for measure in measures:
        mean = {n: np.mean([r[key[measure]] for r in report["rows"] if r["measure"] == measure and r["code"] == n])
                for n in sides}
        report["ratios"][f"{measure} {key[measure]}"] = float(mean["after"] / mean["before"])
    report["title"] = args.title
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
