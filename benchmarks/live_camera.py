"""Live at the camera's frame rate on this CPU (issue 15): ``u2live webcam`` on a 1280x720 30 fps file paced as a
camera, the model beside the picture (the default) and ``--sync`` (one mask per frame), side by side.

Every run is ``u2live webcam`` at its defaults (--backend auto, --precision auto, --size auto: the size is measured
while running, from the one remembered in the cache, as a user gets it; the table says where it ended).

Part 1, keeping up: each run writes a recording (``-o``) and sends every frame to pyvirtualcam's real ``Camera``
with a recording backend (this machine has no v4l2loopback device: the backend is the stand-in at that boundary; it
keeps each frame's arrival time, not its pixels). Reports delivered FPS against the camera's, the share of camera
frames delivered, mask refresh rate, capture-to-sink latency and mask age (p50/p99), with the load average.
Then the levers, each reverted alone beside the run as shipped (blur): the live recording at x264's offline preset
(medium), the model on every core but one (one thread here: a core to the picture), and the model's threads at
the picture's CPU priority. A few frames of the first recording are saved as PNGs beside the results, to look at.

Part 2, is the warp right: the recorded ``--mode matte`` of a live run, frame by frame, against the matte the model
makes on that very frame (one mask per frame, refined on it, as ``u2live video --mode matte`` makes it; computed
in memory for the frames the live runs showed, so the live side alone carries H.264's small error), with the warp
on and off, on a clip not used for tuning (vtest.avi, or tree.avi). Smoothing off, so the difference is the warp
alone.

    PYTHONPATH=. python benchmarks/live_camera.py [--seconds 20] [--rounds 1]   # ~8 min; on a quiet machine

Clips are made at run time with ffmpeg from the opencv-doc clips into ``benchmarks/.clips/`` (ignored by git):
played at 30 fps (frame by frame, no duplicates: the motion runs faster than the original), scaled to 1280x720,
looped to length. Results: ``benchmarks/results/live-camera.{json,md,png}``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data"
CLIPS = REPO / "benchmarks/.clips"
RESULTS = REPO / "benchmarks/results"
#: webcam's defaults: --model auto, --backend auto, --precision auto (int8 on the CPU), --size auto (measured while
#: running)
DEFAULTS = {"weights": None, "model": "auto", "size": "auto", "backend": "auto", "precision": "auto"}
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
             smoothing: str = "auto", warp: bool = True, model: dict | None = None, lever: str = "") -> dict:
    """One ``u2live webcam`` run as the CLI makes it (in this process, so the recording camera is registered), at
    webcam's defaults unless ``model`` overrides some; ``lever`` reverts one of the live path's choices (LEVERS)."""
    from u2live.job import run_job
    from u2live.spec import ModelSpec, RunSpec

    spec = RunSpec(str(clip), live=True, model=ModelSpec(**{**DEFAULTS, **(model or {})}), mode=mode,
                   smoothing=smoothing, background=background, output=out, vcam=vcam, sync=sync, warp=warp,
                   progress=False)
    RecordingCamera.opened.clear()
    load_before = loadavg()
    with LEVERS[lever](), ThreadCpu() as cpu:
        stats = run_job(spec, on_frame=cpu.mark)
    row = {"sync": sync, "background": background, "mode": mode, "smoothing": smoothing, "warp": warp,
           "lever": lever, **stats.as_dict(), "load_before": load_before, "load_after": loadavg()}
    row["cores_by_thread"] = cpu.cores()
    row["size"] = int(re.search(r" (\d+)x\d+", row["backend"]).group(1))
    if vcam:
        arrivals = np.diff(RecordingCamera.opened[-1].arrivals)
        row["vcam_frames"] = len(RecordingCamera.opened[-1].arrivals)
        row["vcam_gap_ms_p50"], row["vcam_gap_ms_p99"] = (
            (np.percentile(arrivals, [50, 99]) * 1000).round(1).tolist() if arrivals.size else (None, None))
    return row


class ThreadCpu:
    """CPU used per thread of this process from :meth:`mark` (the first frame out: loading and measuring the model
    excluded) to the end, sampled from /proc (Linux) every ``every`` seconds (a thread's last half-second is lost if
    it ends between samples), by role: u2live's own threads by name, the rest (FFmpeg's decoder and x264's threads)
    as ``codec/other``."""

    ROLES = {"MainThread": "main loop (flow, render)", "u2live-segmenter": "model", "u2live-writer": "writer",
             "u2live-file-reader": "camera (decode)"}

    def __init__(self, every: float = 0.5):
        self.every, self.ticks, self.names, self.base, self.times = every, {}, {}, None, [0.0, 0.0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu-sampler", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def mark(self) -> None:
        if self.base is None:
            self.base, self.times[0] = self._sample(), time.perf_counter()

    def _run(self):
        while not self._stop.wait(self.every):
            self.names.update({t.native_id: t.name for t in threading.enumerate()})
            self.ticks.update(self._sample())
            self.times[1] = time.perf_counter()

    @staticmethod
    def _sample() -> dict[int, int]:
        ticks = {}
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks[int(task.name)] = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks

    def cores(self) -> dict:
        """Cores used on average from the mark to the last sample, by role."""
        wall, out = (self.times[1] - self.times[0]) * os.sysconf("SC_CLK_TCK"), {}
        for tid, ticks in self.ticks.items():
            name = self.names.get(tid, "")
            if name != "bench-cpu-sampler" and wall > 0:
                role = self.ROLES.get(name, "codec/other")
                out[role] = out.get(role, 0.0) + (ticks - (self.base or {}).get(tid, 0)) / wall
        return {role: round(value, 2) for role, value in sorted(out.items())}


@contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _medium_preset():
    from u2live.sinks import file

    return patched(file, "LIVE_H264_PRESET", "medium")


def _one_core_left_to_the_picture():
    from u2live.backends import onnx_runtime

    cores = onnx_runtime.cpu_threads()
    # the CPU backend's own thread count, read when a model loads (a live model's start-up prediction still
    # counts every core)
    return patched(onnx_runtime, "cpu_threads", lambda: max(1, cores - 1))


def _model_at_the_pictures_priority():
    from u2live import live

    return patched(live, "WORKER_NICENESS", 0)


#: the live path's choices, each reverted alone for a side-by-side run ("": as shipped)
LEVERS = {"": nullcontext, "x264 medium": _medium_preset, "model on every core but one": _one_core_left_to_the_picture,
          "model at the picture's priority": _model_at_the_pictures_priority}


def cpu_model(size: int) -> dict:
    """--backend cpu --precision int8 --size SIZE: a pinned model (the warp comparison, the model's own mattes)."""
    return {"backend": "cpu", "precision": "int8", "size": size}


def keeping_up(seconds: float, rounds: int, backgrounds: list[str], levers: bool, work: Path) -> list[dict]:
    """Per round and background: beside and --sync, interleaved so both see the same load; then (blur) each lever
    reverted alone. The first recording is kept in ``work`` for looking at (frames: :func:`save_frames`)."""
    import pyvirtualcam

    pyvirtualcam.register_backend(VCAM_BACKEND, RecordingCamera)
    clip = make_clip("Megamind.avi", seconds + LEAD_SECONDS)
    plan = [(background, sync, "") for background in backgrounds for sync in (False, True)]
    plan += [(backgrounds[0], False, lever) for lever in LEVERS if lever and levers]
    rows = []
    for round_ in range(rounds):
        for n, (background, sync, lever) in enumerate(plan):
            out = work / ("live.mp4" if round_ == n == 0 else "again.mp4")
            row = live_run(clip, out, sync=sync, background=background, lever=lever)
            rows.append({"round": round_, **row})
            print(json.dumps({k: row[k] for k in ("sync", "background", "lever", "size", "delivered_fps",
                                                  "delivered_share", "mask_hz", "latency_ms_p50", "mask_age_ms_p50",
                                                  "load_after", "cores_by_thread")}), flush=True)
    return rows


def save_frames(recording: Path, seconds=(4.0, 9.0, 14.0)) -> list[str]:
    """Frames of a recording as PNGs (half size) beside the results, to look at: a fast slideshow of a bad mask is no
    win."""
    from PIL import Image

    saved = []
    with av.open(str(recording)) as container:
        wanted = list(seconds)
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            if wanted and frame.time >= wanted[0] and image.mean() > 8:  # Megamind opens on black: the next one
                path = RESULTS / f"live-camera-frame-{wanted.pop(0):g}s.png"
                Image.fromarray(image).reduce(2).save(path)
                saved.append(path.name)
    return saved


def mattes(path: Path, fps: int) -> dict[int, np.ndarray]:
    """Source frame index -> [H, W] uint8 matte of a recording (indices from the stream's timestamps)."""
    with av.open(str(path)) as container:
        return {round(float(frame.time) * fps): frame.to_ndarray(format="gray")
                for frame in container.decode(video=0)}


def own_mattes(clip: Path, indices: set[int], size: int) -> dict[int, np.ndarray]:
    """The matte the model makes on each frame in ``indices`` (one mask per frame, refined on it, no smoothing):
    what ``u2live video --mode matte --smoothing none`` writes, computed here for the frames a live run showed."""
    from u2live import backends
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    stages, stats, own = Stages(mode="matte"), PipelineStats(), {}
    with backends.create(**cpu_model(size)) as segmenter, av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in indices:
                image = frame.to_ndarray(format="rgb24")
                mask = segmenter.predict_frames(image[None])[0]
                own[index] = stages.render(image, mask, float(frame.time), stats)[..., 0]
    return own


def warp_error(clip_name: str, seconds: float, work: Path) -> dict:
    """MAE of the live recorded matte to the model's own matte of each frame, warp on and off. The first run picks
    its size as webcam does (--size auto); the second and the model's own mattes keep that size."""
    clip = make_clip(clip_name, seconds + LEAD_SECONDS)
    result, shown, model = {"clip": clip_name, "seconds": seconds}, {}, None
    for warp in (True, False):
        out = work / f"matte-warp-{warp}.mp4"
        with recording_pairs() as pairs:
            row = live_run(clip, out, sync=False, warp=warp, vcam=False, mode="matte", smoothing="none",
                           background="blur", model=model)
        model = cpu_model(row["size"])
        shown[warp] = mattes(out, 30)
        result["warp" if warp else "no_warp"] = {key: row[key] for key in ("size", "mask_hz", "mask_age_ms_p50",
                                                                           "mask_age_ms_p99", "load_after")}
        if warp:
            result["paired"] = paired_warp_error(clip, pairs, model["size"])
    own = own_mattes(clip, set(shown[True]) | set(shown[False]), model["size"])
    for warp in (True, False):
        errors = [np.abs(shown[warp][i].astype(np.float32) - own[i]).mean() / 255 for i in shown[warp]]
        result["warp" if warp else "no_warp"].update(mae=round(float(np.mean(errors)), 5),
                                                      frames_compared=len(errors))
    result["frames"] = len(own)
    print(json.dumps(result), flush=True)
    return result


@contextmanager
def recording_pairs():
    """{shown frame index: index of the frame its mask was made on} of a live run, from the live loop itself."""
    from u2live import live

    pairs, to = {}, live.MaskCarrier.to

    def recorded(carrier, frame):
        pairs[frame.index] = carrier.made_on.index
        return to(carrier, frame)

    with patched(live.MaskCarrier, "to", recorded):
        yield pairs


def paired_warp_error(clip: Path, pairs: dict[int, int], size: int) -> dict:
    """The warp on and off for the very masks and ages a live run showed (``pairs``: frame shown -> frame its mask
    was made on), each against the shown frame's own matte: the same masks both ways, so the machine's load (which
    sets the ages) is the same for both. Through the live path's code (MaskCarrier, Stages.picture)."""
    from u2live import backends
    from u2live.frame import Frame
    from u2live.live import MaskCarrier
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    stages, stats, kept, errors = Stages(mode="matte"), PipelineStats(), {}, {"warp": [], "no_warp": []}
    needed = set(pairs) | set(pairs.values())
    with backends.create(**cpu_model(size)) as segmenter, av.open(str(clip)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index not in needed:
                continue
            image = decoded.to_ndarray(format="rgb24")
            kept[index] = (Frame(image, index / 30, index), segmenter.predict_frames(image[None])[0])
            kept = {i: v for i, v in kept.items() if i >= index - 90}  # masks are at most ~1 s old
            if index in pairs and pairs[index] in kept:
                (frame, mask), (made_on, old) = kept[index], kept[pairs[index]]
                own = stages.picture(image, mask, 0.0, stats)[..., 0].astype(np.float32)
                carrier = MaskCarrier(warp=True)
                carrier.hold(old, made_on)
                for key, carried in (("warp", carrier.to(frame)), ("no_warp", old)):
                    errors[key].append(np.abs(stages.picture(image, carried, 0.0, stats)[..., 0] - own).mean() / 255)
    ages = [i - j for i, j in pairs.items()]
    return {"frames": len(errors["warp"]), "age_frames_p50": float(np.median(ages)),
            **{key: round(float(np.mean(v)), 5) for key, v in errors.items()}}


def warp_error_by_age(clip_name: str, size: int, ages=(1, 2, 4, 8), first: int = 60, count: int = 40) -> dict:
    """Independent of the machine's load: for each of ``count`` frames of the clip, the mask the model made ``k``
    frames earlier, shown on this frame through the live path's own code (MaskCarrier, Stages.picture) with the warp
    on and off, against this frame's own matte. MAE per age k (30 fps: k=4 is a mask 133 ms old)."""
    from u2live import backends
    from u2live.frame import Frame
    from u2live.live import MaskCarrier
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    clip = make_clip(clip_name, 12 + LEAD_SECONDS)
    stages, stats, frames, masks = Stages(mode="matte"), PipelineStats(), [], []
    with backends.create(**cpu_model(size)) as segmenter, av.open(str(clip)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if first - max(ages) <= index < first + count:
                image = decoded.to_ndarray(format="rgb24")
                frames.append(Frame(image, index / 30, index))
                masks.append(segmenter.predict_frames(image[None])[0])
    def shown(frame, mask):
        return stages.picture(frame.image, mask, frame.pts, stats)[..., 0]

    errors = {k: {"warp": [], "no_warp": []} for k in ages}
    for i in range(max(ages), len(frames)):
        own = shown(frames[i], masks[i]).astype(np.float32)
        for k in ages:
            for warp in (True, False):
                carrier = MaskCarrier(warp=warp)
                carrier.hold(masks[i - k], frames[i - k])
                error = np.abs(shown(frames[i], carrier.to(frames[i])) - own).mean() / 255
                errors[k]["warp" if warp else "no_warp"].append(error)
    result = {"clip": clip_name, "size": size, "frames": len(frames) - max(ages),
              "mae": {k: {key: round(float(np.mean(v)), 5) for key, v in by.items()} for k, by in errors.items()}}
    print(json.dumps(result), flush=True)
    return result


ROW_KEYS = ("delivered_fps", "camera_fps", "delivered_share", "mask_hz", "latency_ms_p50", "latency_ms_p99",
            "mask_age_ms_p50", "mask_age_ms_p99", "load_before", "load_after")


def markdown(report: dict) -> str:
    """The runs as a Markdown table, and the warp errors."""
    from u2live.bench.machine import describe

    lines = [f"Machine: {describe(report['machine'])}; {report['created']}; `u2live webcam` at its defaults (the size it picked in the table).", "",
             "| path | --bg | reverted | size | delivered FPS | camera FPS | frames delivered | masks Hz | "
             "latency p50/p99 ms | mask age p50/p99 ms | load before/after |", "| --- | --- | --- |" + " ---: |" * 8]
    for row in report.get("runs", []):
        v = {key: row.get(key) or 0 for key in ROW_KEYS}
        lines.append(f"| {'--sync' if row['sync'] else 'beside'} | {row['background']} | {row.get('lever') or '-'} | "
                     f"{row.get('size', '')} | {v['delivered_fps']:.1f} | "
                     f"{v['camera_fps']:.0f} | {100 * v['delivered_share']:.1f}% | {v['mask_hz']:.1f} | "
                     f"{v['latency_ms_p50']:.0f} / {v['latency_ms_p99']:.0f} | {v['mask_age_ms_p50']:.0f} / "
                     f"{v['mask_age_ms_p99']:.0f} | {v['load_before']:.1f} / {v['load_after']:.1f} |")
    roles = sorted({role for row in report.get("runs", []) for role in row.get("cores_by_thread", {})})
    if roles:
        lines += ["", "Cores used by each thread during the runs (first frame out to the end; /proc's CPU time):", "",
                  "| path | --bg | reverted | " + " | ".join(roles) + " |",
                  "| --- | --- | --- |" + " ---: |" * len(roles)]
        for row in report["runs"]:
            cores = row.get("cores_by_thread", {})
            lines.append(f"| {'--sync' if row['sync'] else 'beside'} | {row['background']} | {row.get('lever') or '-'} "
                         "| " + " | ".join(f"{cores.get(role, 0):.2f}" for role in roles) + " |")
    warp = report.get("warp")
    if warp:
        lines += ["", f"Warp, {warp['clip']} (1280x720, 30 fps; {warp['frames']} frames shown): MAE of the live matte "
                      "to the model's own matte of the same frame:", "",
                  "| warp | size | MAE | frames compared | masks Hz | mask age p50 ms | load after |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for key in ("warp", "no_warp"):
            r = warp[key]
            lines.append(f"| {'on' if key == 'warp' else 'off'} | {r.get('size', '')} | {r['mae']:.4f} | "
                         f"{r['frames_compared']} | "
                         f"{r['mask_hz']:.1f} | {r['mask_age_ms_p50']:.0f} | {r['load_after']:.1f} |")
    paired = (warp or {}).get("paired")
    if paired:
        lines += ["", f"The same masks both ways (the warp-on run's own: {paired['frames']} frames, mask age p50 "
                      f"{paired['age_frames_p50']:g} frames): MAE warp on **{paired['warp']:.4f}**, warp off "
                      f"**{paired['no_warp']:.4f}**."]
    by_age = report.get("warp_by_age")
    if by_age:
        lines += ["", f"Warp by mask age, {by_age['clip']} (model at {by_age.get('size')}; {by_age['frames']} frames, "
                      "1280x720 at 30 fps; the "
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
    short = {"x264 medium": "x264\nmedium", "model on every core but one": "model on all\ncores but one",
             "model at the picture's priority": "model\nnot niced"}
    labels = [f"{'--sync' if r['sync'] else 'beside'}\n{r['background'].split(':')[0]}"
              + (f"\n{short.get(r['lever'], r['lever'])}" if r.get("lever") else "") for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, title in zip(axes, ("delivered_fps", "mask_hz", "latency_ms_p50"),
                              ("delivered FPS (camera: 30)", "mask refresh (Hz)", "latency p50 (ms)")):
        ax.bar(range(len(runs)), [r[key] or 0 for r in runs],
               color=["#d62728" if r["sync"] else "#999999" if r.get("lever") else "#ff7f0e" for r in runs])
        ax.set_xticks(range(len(runs)), labels, fontsize=6)
        ax.set_title(title, fontsize=9)
    axes[0].axhline(30, color="gray", lw=0.8, ls="--")
    axes[1].axhline(8, color="gray", lw=0.8, ls="--")
    axes[2].axhline(50, color="gray", lw=0.8, ls="--")
    loads = ", ".join(f"{r['load_after']:.0f}" for r in runs)
    fig.suptitle(f"u2live webcam at its defaults, 1280x720 30 fps paced file; "
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
    parser.add_argument("--skip", choices=["keeping-up", "levers", "warp", "ages"], action="append", default=[])
    parser.add_argument("--report-only", action="store_true", help="Only remake the .md and .png from the JSON.")
    args = parser.parse_args()
    if args.report_only:
        return write_report(json.loads((RESULTS / "live-camera.json").read_text()))
    from u2live.bench.machine import machine_info

    saved = RESULTS / "live-camera.json"
    report = json.loads(saved.read_text()) if args.skip and saved.exists() else {}  # parts skipped are kept
    report.update({"machine": machine_info(), "model": DEFAULTS,
                   "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    with tempfile.TemporaryDirectory(prefix="u2live-live-") as tmp:
        if "keeping-up" not in args.skip:
            report["runs"] = keeping_up(args.seconds, args.rounds, args.background or ["blur", "color:0,120,255"],
                                        "levers" not in args.skip, Path(tmp))
            report["frames_saved"] = save_frames(Path(tmp) / "live.mp4")
        if "warp" not in args.skip:
            report["warp"] = warp_error(args.warp_clip, min(args.seconds, 12.0), Path(tmp))
        if "ages" not in args.skip:
            size = report.get("warp", {}).get("warp", {}).get("size", 128)
            report["warp_by_age"] = warp_error_by_age(args.warp_clip, size)
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
