"""Live at the camera's frame rate on this CPU (issue 15): ``u2live webcam`` on a 1280x720 30 fps file paced as a
camera, the model beside the picture (the default) and ``--sync`` (one mask per frame), side by side.

Part 1, keeping up: each run writes a recording (``-o``) and sends every frame to pyvirtualcam's real ``Camera``
with a recording backend (this machine has no v4l2loopback device: the backend is the stand-in at that boundary; it
keeps each frame's arrival time, not its pixels). Reports delivered FPS against the camera's, the share of camera
frames delivered, mask refresh rate, capture-to-sink latency and mask age (p50/p99), with the load average.

Part 2, is the warp right: the recorded ``--mode matte`` of a live run, frame by frame, against the matte the model
makes on that very frame (one mask per frame, refined on it, as ``u2live video --mode matte`` makes it; computed
in memory for the frames the live runs showed, so the live side alone carries H.264's small error), with the warp
on and off, on a clip not used for tuning (vtest.avi, or tree.avi). Smoothing off, so the difference is the warp
alone.

    PYTHONPATH=. nice -n 10 python benchmarks/live_camera.py [--seconds 20] [--rounds 1]

Clips are made at run time with ffmpeg from the opencv-doc clips into ``benchmarks/.clips/`` (ignored by git):
played at 30 fps (frame by frame, no duplicates: the motion runs faster than the original), scaled to 1280x720,
looped to length. Results: ``benchmarks/results/live-camera.{json,md,png}``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data"
CLIPS = REPO / "benchmarks/.clips"
RESULTS = REPO / "benchmarks/results"
MODEL = {"weights": None, "model": "u2netp", "size": 320, "backend": "cpu", "precision": "int8"}
VCAM_BACKEND = "u2live-bench-recording"
# The source plays from the moment it opens, as a camera does, while the model loads and warms up (ORT's first
# int8 call takes ~2 s here): the clip runs this much longer than the span measured, which starts at the first
# frame out and ends with the clip.
LEAD_SECONDS = 8


class RecordingCamera:
    """A pyvirtualcam backend that records when each frame arrived (stand-in for v4l2loopback, absent here)."""

    opened: list["RecordingCamera"] = []

    def __init__(self, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.arrivals = width, height, []
        RecordingCamera.opened.append(self)

    def send(self, frame):
        self.arrivals.append(time.perf_counter())

    def close(self):
        pass

    def device(self):
        return "recording"

    def native_fourcc(self):
        return None


def make_clip(name: str, seconds: float, fps: int = 30, size=(1280, 720)) -> Path:
    """The opencv-doc clip ``name`` played at ``fps`` frame for frame, scaled to ``size``, looped to ``seconds``."""
    out = CLIPS / f"{Path(name).stem}-{size[0]}x{size[1]}-{fps}fps-{seconds:g}s.mp4"
    if not out.exists():
        CLIPS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(DATA / name),
                        "-vf", f"setpts=N/({fps}*TB),scale={size[0]}:{size[1]}", "-r", str(fps),
                        "-frames:v", str(round(seconds * fps)), "-an", "-c:v", "libx264", "-preset", "veryfast",
                        "-crf", "18", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def live_run(clip: Path, out: Path, *, sync: bool, background: str, vcam: bool = True, mode: str = "composite",
             smoothing: str = "auto", warp: bool = True, live: bool = True) -> dict:
    """One ``u2live webcam`` run as the CLI makes it (in this process, so the recording camera is registered)."""
    from u2live.backgrounds import parse_background
    from u2live.job import run_job

    RecordingCamera.opened.clear()
    load_before = loadavg()
    stats = run_job(str(clip), live=live, output=out, rtmp=None, vcam=vcam, preview=False,
                    background=parse_background(background), mode=mode, smoothing=smoothing, max_frames=None,
                    quiet=True, sync=sync, warp=warp, **MODEL)
    row = {"sync": sync, "background": background, "mode": mode, "smoothing": smoothing, "warp": warp,
           **stats.as_dict(), "load_before": load_before, "load_after": loadavg()}
    if vcam:
        arrivals = np.diff(RecordingCamera.opened[-1].arrivals)
        row["vcam_frames"] = len(RecordingCamera.opened[-1].arrivals)
        row["vcam_gap_ms_p50"], row["vcam_gap_ms_p99"] = (
            (np.percentile(arrivals, [50, 99]) * 1000).round(1).tolist() if arrivals.size else (None, None))
    return row


def keeping_up(seconds: float, rounds: int, backgrounds: list[str], work: Path) -> list[dict]:
    import pyvirtualcam

    pyvirtualcam.register_backend(VCAM_BACKEND, RecordingCamera)
    clip = make_clip("Megamind.avi", seconds + LEAD_SECONDS)
    rows = []
    for round_ in range(rounds):
        for background in backgrounds:
            for sync in (False, True):  # interleaved, so both see the same load
                row = live_run(clip, work / f"live-{round_}-{sync}.mp4", sync=sync, background=background)
                rows.append({"round": round_, **row})
                print(json.dumps({k: row[k] for k in ("sync", "background", "fps", "delivered_share", "mask_hz",
                                                      "latency_ms_p50", "mask_age_ms_p50", "load_after")}),
                      flush=True)
    return rows


def mattes(path: Path, fps: int) -> dict[int, np.ndarray]:
    """Source frame index -> [H, W] uint8 matte of a recording (indices from the stream's timestamps)."""
    with av.open(str(path)) as container:
        return {round(float(frame.time) * fps): frame.to_ndarray(format="gray")
                for frame in container.decode(video=0)}


def own_mattes(clip: Path, indices: set[int]) -> dict[int, np.ndarray]:
    """The matte the model makes on each frame in ``indices`` (one mask per frame, refined on it, no smoothing):
    what ``u2live video --mode matte --smoothing none`` writes, computed here for the frames a live run showed."""
    import torch

    from u2live import backends
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    stages, stats, own = Stages(mode="matte"), PipelineStats(), {}
    with backends.create(**MODEL) as segmenter, av.open(str(clip)) as container, torch.inference_mode():
        for index, frame in enumerate(container.decode(video=0)):
            if index in indices:
                image = torch.from_numpy(frame.to_ndarray(format="rgb24"))
                mask = segmenter.predict_frames(image[None])[0]
                own[index] = stages.render(image, mask, float(frame.time), stats)[..., 0]
    return own


def warp_error(clip_name: str, seconds: float, work: Path) -> dict:
    """MAE of the live recorded matte to the model's own matte of each frame, warp on and off."""
    clip = make_clip(clip_name, seconds + LEAD_SECONDS)
    result, shown = {"clip": clip_name, "seconds": seconds}, {}
    for warp in (True, False):
        out = work / f"matte-warp-{warp}.mp4"
        row = live_run(clip, out, sync=False, warp=warp, vcam=False, mode="matte", smoothing="none",
                       background="blur")
        shown[warp] = mattes(out, 30)
        result["warp" if warp else "no_warp"] = {key: row[key] for key in ("mask_hz", "mask_age_ms_p50",
                                                                           "mask_age_ms_p99", "load_after")}
    own = own_mattes(clip, set(shown[True]) | set(shown[False]))
    for warp in (True, False):
        errors = [np.abs(shown[warp][i].astype(np.float32) - own[i]).mean() / 255 for i in shown[warp]]
        result["warp" if warp else "no_warp"].update(mae=round(float(np.mean(errors)), 5),
                                                      frames_compared=len(errors))
    result["frames"] = len(own)
    print(json.dumps(result), flush=True)
    return result


def warp_error_by_age(clip_name: str, ages=(1, 2, 4, 8), first: int = 60, count: int = 40) -> dict:
    """Independent of the machine's load: for each of ``count`` frames of the clip, the mask the model made ``k``
    frames earlier, shown on this frame through the live path's own code (MaskCarrier, Stages.finish) with the warp
    on and off, against this frame's own matte. MAE per age k (30 fps: k=4 is a mask 133 ms old)."""
    import torch

    from u2live import backends
    from u2live.frame import Frame
    from u2live.live import MaskCarrier
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    clip = make_clip(clip_name, 12 + LEAD_SECONDS)
    stages, stats, frames, masks = Stages(mode="matte"), PipelineStats(), [], []
    with backends.create(**MODEL) as segmenter, av.open(str(clip)) as container, torch.inference_mode():
        for index, decoded in enumerate(container.decode(video=0)):
            if first - max(ages) <= index < first + count:
                image = torch.from_numpy(decoded.to_ndarray(format="rgb24"))
                frames.append(Frame(image.numpy(), index / 30, index))
                masks.append(segmenter.predict_frames(image[None])[0])
    shown = lambda frame, mask: stages.picture(torch.from_numpy(frame.image), mask, frame.pts, stats)[..., 0]  # noqa: E731
    errors = {k: {"warp": [], "no_warp": []} for k in ages}
    for i in range(max(ages), len(frames)):
        own = shown(frames[i], masks[i]).astype(np.float32)
        for k in ages:
            for warp in (True, False):
                carrier = MaskCarrier(warp=warp)
                carrier.hold(masks[i - k], frames[i - k])
                error = np.abs(shown(frames[i], carrier.to(frames[i])) - own).mean() / 255
                errors[k]["warp" if warp else "no_warp"].append(error)
    result = {"clip": clip_name, "frames": len(frames) - max(ages),
              "mae": {k: {key: round(float(np.mean(v)), 5) for key, v in by.items()} for k, by in errors.items()}}
    print(json.dumps(result), flush=True)
    return result


ROW_KEYS = ("delivered_fps", "camera_fps", "delivered_share", "mask_hz", "latency_ms_p50", "latency_ms_p99",
            "mask_age_ms_p50", "mask_age_ms_p99", "load_before", "load_after")


def markdown(report: dict) -> str:
    """The runs as a Markdown table, and the warp errors."""
    lines = [f"Machine: {report['machine']['cpu']}, {report['machine']['cores_logical']} cores, shared; "
             f"{report['created']}; model {MODEL['backend']} {MODEL['precision']} {MODEL['size']}.", "",
             "| path | --bg | delivered FPS | camera FPS | frames delivered | masks Hz | latency p50/p99 ms | "
             "mask age p50/p99 ms | load before/after |", "| --- | --- |" + " ---: |" * 7]
    for row in report.get("runs", []):
        v = {key: row.get(key) for key in ROW_KEYS}
        lines.append(f"| {'--sync' if row['sync'] else 'beside'} | {row['background']} | {v['delivered_fps']:.1f} | "
                     f"{v['camera_fps']:.0f} | {100 * v['delivered_share']:.1f}% | {v['mask_hz']:.1f} | "
                     f"{v['latency_ms_p50']:.0f} / {v['latency_ms_p99']:.0f} | {v['mask_age_ms_p50']:.0f} / "
                     f"{v['mask_age_ms_p99']:.0f} | {v['load_before']:.1f} / {v['load_after']:.1f} |")
    warp = report.get("warp")
    if warp:
        lines += ["", f"Warp, {warp['clip']} (1280x720, 30 fps; {warp['frames']} frames shown): MAE of the live matte "
                      "to the model's own matte of the same frame:", "",
                  "| warp | MAE | frames compared | masks Hz | mask age p50 ms | load after |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for key in ("warp", "no_warp"):
            r = warp[key]
            lines.append(f"| {'on' if key == 'warp' else 'off'} | {r['mae']:.4f} | {r['frames_compared']} | "
                         f"{r['mask_hz']:.1f} | {r['mask_age_ms_p50']:.0f} | {r['load_after']:.1f} |")
    by_age = report.get("warp_by_age")
    if by_age:
        lines += ["", f"Warp by mask age, {by_age['clip']} ({by_age['frames']} frames, 1280x720 at 30 fps; the "
                      "mask made k frames before the frame shown, against that frame's own matte; load-independent):",
                  "", "| k (frames) | MAE warp on | MAE warp off |", "| ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['warp']:.4f} | {v['no_warp']:.4f} |" for k, v in by_age["mae"].items()]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """Delivered FPS, mask refresh rate and latency p50, beside vs --sync, per background."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    labels = [f"{'--sync' if r['sync'] else 'beside'}\n{r['background'].split(':')[0]}" for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, key, title in zip(axes, ("delivered_fps", "mask_hz", "latency_ms_p50"),
                              ("delivered FPS (camera: 30)", "mask refresh (Hz)", "latency p50 (ms)")):
        ax.bar(range(len(runs)), [r[key] or 0 for r in runs],
               color=["#d62728" if r["sync"] else "#ff7f0e" for r in runs])
        ax.set_xticks(range(len(runs)), labels, fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].axhline(30, color="gray", lw=0.8, ls="--")
    axes[1].axhline(8, color="gray", lw=0.8, ls="--")
    axes[2].axhline(50, color="gray", lw=0.8, ls="--")
    loads = ", ".join(f"{r['load_after']:.0f}" for r in runs)
    fig.suptitle(f"u2live webcam, 1280x720 30 fps paced file, {MODEL['backend']} {MODEL['precision']}; "
                 f"2 shared cores, load average after each run: {loads}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--background", action="append", help="--bg values (default: blur, the default, and a "
                                                               "colour)")
    parser.add_argument("--warp-clip", default="vtest.avi")
    parser.add_argument("--skip", choices=["keeping-up", "warp", "ages"], action="append", default=[])
    parser.add_argument("--report-only", action="store_true", help="Only remake the .md and .png from the JSON.")
    args = parser.parse_args()
    if args.report_only:
        return write_report(json.loads((RESULTS / "live-camera.json").read_text()))
    from u2live.bench.machine import machine_info

    saved = RESULTS / "live-camera.json"
    report = json.loads(saved.read_text()) if args.skip and saved.exists() else {}  # parts skipped are kept
    report.update({"machine": machine_info("2 cores shared with other engineers' jobs"), "model": MODEL,
                   "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    with tempfile.TemporaryDirectory(prefix="u2live-live-") as tmp:
        if "keeping-up" not in args.skip:
            report["runs"] = keeping_up(args.seconds, args.rounds, args.background or ["blur", "color:0,120,255"],
                                        Path(tmp))
        if "warp" not in args.skip:
            report["warp"] = warp_error(args.warp_clip, min(args.seconds, 12.0), Path(tmp))
        if "ages" not in args.skip:
            report["warp_by_age"] = warp_error_by_age(args.warp_clip)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live-camera.json").write_text(json.dumps(report, indent=1) + "\n")
    write_report(report)


def write_report(report: dict) -> None:
    (RESULTS / "live-camera.md").write_text(markdown(report))
    if report.get("runs"):
        plot(report, RESULTS / "live-camera.png")
    print(f"wrote {RESULTS}/live-camera.json, .md, .png")


if __name__ == "__main__":
    main()
