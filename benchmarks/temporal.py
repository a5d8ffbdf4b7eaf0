"""Temporal consistency of the mask without labels, the way the field measures it (issue 10).

The model (the default CPU backend, ONNX Runtime FP32, size 320) runs once per frame; its masks are cached under
``.cache/masks/``. Each ``--smoothing`` setting is then replayed over the whole clip, in order (the state runs as it
does in ``u2live video``), and scored per stretch of frames:

- warping error (Lai et al., ECCV 2018, "Learning Blind Video Temporal Consistency"): mean |O_t - warp(O_t-1)| over
  the pixels that are not occluded, the flow taken between the input frames. The flow here is DIS ``medium`` at
  the frames' full resolution with a forward-backward occlusion check: stronger than, and independent of, the
  ``ultrafast`` flow at 160 px the temporal state uses. Pairs across a scene cut are left out.
- still-pixel flicker: mean |O_t - O_t-1| where the picture did not change (gray level change below STILL_LEVELS
  at the mask's resolution, no motion compensation: these pixels did not move);
- fidelity: mean |O_t - M_t| to the model's own per-frame mask, over all pixels and over moving pixels (where the
  picture changed by more than MOVING_LEVELS).

Tuning used Megamind frames 0-119 only; frames 120-269 and tree.avi are held out. Also timed: the state's CPU time
per 1280x720 frame (Megamind frames enlarged), interleaved with the other settings, process time.

``--tradeoff`` scores a sweep of settings on every stretch, held-out ones included, to map how still-pixel flicker
trades against fidelity (it tunes nothing: the defaults were chosen before, on frames 0-119).

``--model`` (repeatable; issue 23) measures the same settings on other masks (MODELS): the person model's and
``--model auto``'s, beside U2-Net†'s in the same run, into ``temporal-person.md/.json``. Each model's masks are
smoothed and scored at their own resolution, as the pipeline smooths them (auto's, where its two networks' sizes
mix in a clip, at the larger one); the still and moving pixels are found at that resolution too.

Usage: ``python benchmarks/temporal.py [--media DIR] [--out benchmarks/results] [--tune | --tradeoff]
[--model u2netp --model selfie --model auto]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live import backends  # noqa: E402
from u2live.bench.machine import describe, machine_info  # noqa: E402
from u2live.flow import FlowEstimator  # noqa: E402
from u2live.smoothing import make_smoother  # noqa: E402
from u2live.temporal import MotionSmoother  # noqa: E402

MEDIA = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
CACHE = REPO / ".cache" / "masks"
SIZE = 320
STILL_LEVELS = 3.0
MOVING_LEVELS = 12.0
SETTINGS = ["none", "ema", "motion"]  # --smoothing none, the previous default (ema auto), the new default
LABELS = {"none": "none (per-frame masks)", "ema": "ema (previous default)", "motion": "motion (new default)"}
# (label, clip, first frame, last frame exclusive)
STRETCHES = [("Megamind 0-119 (tuned on)", "Megamind.avi", 0, 120),
             ("Megamind 120-269 (held out)", "Megamind.avi", 120, 270),
             ("tree.avi, 68 frames (held out)", "tree.avi", 0, None)]


def decode(path: Path):
    """[(rgb [H, W, 3] uint8, pts seconds)] of every frame, pts repaired into display order (Megamind.avi's
    packed B-frames permute them; u2live.sources repairs them the same way: the k-th frame gets the k-th pts)."""
    with av.open(str(path)) as container:
        frames = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(video=0)]
    pts = sorted(t for _, t in frames)
    return [(image, t) for (image, _), t in zip(frames, pts)]


#: --model: whose masks are measured. u2netp: the default CPU backend (ONNX Runtime FP32) at SIZE, the masks the
#: defaults were tuned on; selfie: the person model as auto runs it (FP32 at its own 256x256); auto: what ``u2live
#: video`` gets at its defaults (Segmenter.predict_frames on the frames in order, one at a time as on the CPU: the
#: person model where auto's gate says a person is, U2-Net† INT8 at 320 where none is; the gate decides per clip)
MODELS = ("u2netp", "selfie", "auto")


def masks_of(path: Path, frames: list, model: str = "u2netp") -> np.ndarray | list[np.ndarray]:
    """The float32 masks of ``model`` (MODELS) for every frame of the clip at ``path``, cached: [T, S, S], or a
    list of [S, S] where auto's two networks' sizes mix."""
    if model == "u2netp":
        return model_masks(path, frames)
    cache = CACHE / f"{path.stem}-{model}-video.npz"
    if cache.is_file():
        with np.load(cache) as data:
            if len(data.files) == len(frames):
                return per_frame([data[f"{i:05d}"] for i in range(len(frames))])
    masks, lines = sequence_masks(frames, model)
    for line in lines:
        print(f"{path.name}: {line}", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **{f"{i:05d}": m.astype(np.float16) for i, m in enumerate(masks)})
    return per_frame([m.astype(np.float16) for m in masks])  # as the cache gives them back


def per_frame(masks: list) -> np.ndarray | list[np.ndarray]:
    """float32 [T, S, S] when the masks share a size, else the list of float32 masks."""
    masks = [m.astype(np.float32) for m in masks]
    return np.stack(masks) if len({m.shape for m in masks}) == 1 else masks


def sequence_masks(frames: list, model: str) -> tuple[list, list[str]]:
    """The masks of ``model`` for the frames in order, as ``u2live video`` makes them on the CPU (one frame per
    ``predict_frames`` call, so auto's gate sees the clip as a run does), and what the segmenter said."""
    from u2live.options import VIDEO_PRECISION

    lines = []
    options = {"precision": "fp32"} if model == "selfie" else {"size": SIZE}
    with backends.create("cpu", model=model, auto_precision=VIDEO_PRECISION, log=lines.append,
                         **options) as segmenter, torch.inference_mode():
        lines.append(segmenter.describe())
        masks = [segmenter.predict_frames(torch.from_numpy(image)[None])[0].numpy() for image, _ in frames]
    return masks, lines


def as_array(masks: list) -> np.ndarray:
    """[T, S, S] float32 from per-frame masks; where sizes differ (auto turning between its two networks), each
    resized to the largest (bilinear, as the refinement enlarges a mask)."""
    side = max(m.shape[-1] for m in masks)
    return np.stack([m if m.shape[-1] == side else cv2.resize(m.astype(np.float32), (side, side),
                                                                interpolation=cv2.INTER_LINEAR)
                     for m in masks]).astype(np.float32)


def model_masks(path: Path, frames: list) -> np.ndarray:
    """[T, SIZE, SIZE] float32 sigmoid masks of the default CPU backend, cached (resumes when interrupted)."""
    cache = CACHE / f"{path.stem}-cpu-{SIZE}.npz"
    masks = []
    if cache.is_file():
        with np.load(cache) as data:
            masks = list(data["masks"])
    if len(masks) < len(frames):
        with backends.create("cpu", size=SIZE, log=lambda s: None) as segmenter:
            for i, (image, _) in enumerate(frames[len(masks):], start=len(masks)):
                masks.append(segmenter.predict([image])[0].astype(np.float16))
                if len(masks) % 20 == 0 or len(masks) == len(frames):
                    _save(cache, masks)
                    print(f"{path.name}: model masks {len(masks)}/{len(frames)}", file=sys.stderr)
    return np.stack(masks[: len(frames)]).astype(np.float32)


def _save(cache: Path, masks: list) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")
    np.savez_compressed(partial, masks=np.stack(masks))
    partial.replace(cache)


def make_state(setting: str, **options):
    """An object with ``update(mask, pts, image)`` for a setting, or None for none."""
    if setting == "none":
        return None
    if setting == "ema":
        return make_smoother("ema")
    return MotionSmoother(**options)


def replay(frames: list, masks, setting: str, **options) -> np.ndarray:
    """[T, S, S] outputs of ``setting`` run over the whole clip in order, each mask at its own size (a state
    starts afresh where the size changes, as in the pipeline), then :func:`as_array`."""
    state = make_state(setting, **options)
    if state is None:
        return as_array(masks)
    outs = [state.update(torch.from_numpy(m), t, image=image) for m, (image, t) in zip(masks, frames)]
    return as_array([o.numpy() for o in outs])


class Reference:
    """What the scores need from the input frames: the evaluation flow per pair, and still and moving pixels at
    the masks' resolution (the first ``at(size)`` for a size computes them)."""

    def __init__(self, frames: list):
        self.frames = frames
        self._pixels: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        estimator = FlowEstimator(max(frames[0][0].shape), preset="medium")
        self.flows = [None] + [estimator.flow(frames[t - 1][0], frames[t][0]) for t in range(1, len(frames))]

    def at(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """([T, size, size] still pixels, moving pixels): gray change between frames at ``size``."""
        if size not in self._pixels:
            gray = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (size, size),
                                        interpolation=cv2.INTER_AREA).astype(np.float32) for f, _ in self.frames])
            changed = np.abs(np.diff(gray, axis=0))
            self._pixels[size] = (np.concatenate([np.zeros_like(changed[:1], bool), changed < STILL_LEVELS]),
                                  np.concatenate([np.zeros_like(changed[:1], bool), changed > MOVING_LEVELS]))
        return self._pixels[size]

    def scores(self, outs: np.ndarray, masks: np.ndarray, first: int, last: int) -> dict:
        """The four figures over frames [first, last) (pairs t-1, t with t in (first, last)), plus per-frame
        still-pixel flicker for the plot."""
        warp_num = warp_den = still_num = still_den = 0.0
        per_frame = []
        size = masks.shape[-1]
        stills, moving = self.at(size)
        for t in range(first + 1, last):
            flow, still = self.flows[t], stills[t]
            step = np.abs(outs[t] - outs[t - 1])
            per_frame.append(float(step[still].mean()) if still.any() else float("nan"))
            still_num += float(step[still].sum())
            still_den += float(still.sum())
            if not flow.scene_cut:
                valid = flow.resize(flow.valid, (size, size))
                warp_num += float(np.abs(outs[t] - flow.warp(outs[t - 1]))[valid].sum())
                warp_den += float(valid.sum())
        span = slice(first, last)
        error = np.abs(outs[span] - masks[span])
        moving = moving[span]
        kept, held = masks[span] > 0.5, outs[span] > 0.5
        return {"warping_error": warp_num / max(warp_den, 1), "still_flicker": still_num / max(still_den, 1),
                "fidelity": float(error.mean()), "fidelity_moving": float(error[moving].mean()),
                # of the pixels the model's own mask keeps (> 0.5): the share the output drops, and the share it
                # adds where the model's mask does not keep them (a held hair band, a held-over shoulder)
                "kept": float(kept.mean()),  # the share of the picture the model's mask keeps
                "dropped": float((kept & ~held).sum() / max(kept.sum(), 1)),
                "added": float((~kept & held).sum() / max(kept.sum(), 1)),
                "per_frame_still_flicker": per_frame}


def evaluate(media: Path, settings: dict, models: tuple[str, ...] = ("u2netp",)) -> list[dict]:
    """Rows of scores: every stretch x every model's masks x every setting ({name: options})."""
    rows = []
    for name in dict.fromkeys(s[1] for s in STRETCHES):
        frames = decode(media / name)
        reference = Reference(frames)
        for model in models:
            masks = masks_of(media / name, frames, model)
            outputs = {label: replay(frames, masks, kind, **options) for label, (kind, options) in settings.items()}
            masks = as_array(masks)
            for stretch, clip, first, last in STRETCHES:
                if clip != name:
                    continue
                last = len(frames) if last is None else last
                for label, outs in outputs.items():
                    rows.append({"stretch": stretch, "frames": last - first, "model": model, "setting": label,
                                 **reference.scores(outs, masks, first, last)})
    _relative(rows)
    return rows


def _relative(rows: list[dict]) -> None:
    """Adds each row's reduction of warping error and still flicker against ``none`` on the same stretch and
    model's masks."""
    base = {(r["model"], r["stretch"]): r for r in rows if r["setting"] == "none"}
    for r in rows:
        b = base[r["model"], r["stretch"]]
        r["warping_reduction"] = 1 - r["warping_error"] / b["warping_error"]
        r["flicker_reduction"] = 1 - r["still_flicker"] / b["still_flicker"]


def time_per_frame(media: Path, repeats: int = 3, count: int = 60) -> dict:
    """CPU ms each setting adds per 1280x720 frame: one OpenCV and one torch thread, the calling thread's CPU time
    (``time.thread_time``: waiting for the core, which the shared machine makes long, is not counted), settings
    interleaved frame by frame so load hits them alike. Median and mean over ``repeats`` x ``count`` frames."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    clip = decode(media / "Megamind.avi")
    masks = model_masks(media / "Megamind.avi", clip)[120:120 + count]
    frames = [(torch.from_numpy(cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR)), t)
              for f, t in clip[120:120 + count]]
    states = {s: make_state(s) for s in SETTINGS if s != "none"}
    spent = {name: [] for name in states}
    load = _loadavg()
    for repeat in range(repeats):
        for (image, t), mask in zip(frames, masks):
            mask = torch.from_numpy(mask)
            for name, state in states.items():
                began = time.thread_time()
                state.update(mask, t + repeat * 100.0, image=image)  # pts keep moving forward across repeats
                spent[name].append(time.thread_time() - began)
        spent.setdefault("calibration", []).extend(_calibration(frames))
    calibration = 1000 * float(np.median(spent.pop("calibration")))
    return {"ms_cpu_per_frame_1280x720": {n: 1000 * float(np.median(v)) for n, v in spent.items()},
            "ms_cpu_mean_1280x720": {n: 1000 * float(np.mean(v)) for n, v in spent.items()},
            "calibration_ms": calibration, "calibration_quiet_ms": CALIBRATION_QUIET_MS,
            "frames_timed": repeats * len(frames), "loadavg_before": load, "loadavg_after": _loadavg(),
            "threads": "1 OpenCV, 1 torch"}


# DESIGN.md's figure for DIS ultrafast, one direction, at a quarter of 720p on this machine when it was quiet
# (2026-11-22): timed again beside the states, it shows how much the shared machine's load inflates CPU time now.
CALIBRATION_QUIET_MS = 0.5


def _calibration(frames: list) -> list[float]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    grays = [cv2.resize(cv2.cvtColor(f.numpy(), cv2.COLOR_RGB2GRAY), (320, 180), interpolation=cv2.INTER_AREA)
             for f, _ in frames[:11]]
    spent = []
    for a, b in zip(grays, grays[1:]):
        began = time.thread_time()
        dis.calc(a, b, None)
        spent.append(time.thread_time() - began)
    return spent


def _loadavg() -> list[str]:
    path = Path("/proc/loadavg")
    return path.read_text().split()[:3] if path.is_file() else []


def plot(rows: list[dict], path: Path) -> None:
    """Per-frame still-pixel flicker over time, one panel per held-out stretch, one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stretches = [s[0] for s in STRETCHES]
    fig, axes = plt.subplots(len(stretches), 1, figsize=(10, 2.6 * len(stretches)), constrained_layout=True)
    for ax, stretch in zip(axes, stretches):
        first = next(s[2] for s in STRETCHES if s[0] == stretch)
        for r in (r for r in rows if r["stretch"] == stretch):
            values = r["per_frame_still_flicker"]
            ax.plot(range(first + 1, first + 1 + len(values)), values, label=LABELS.get(r["setting"], r["setting"]),
                    lw=1.2)
        ax.set_title(stretch, fontsize=10)
        ax.set_ylabel("mean |m_t - m_t-1|\non still pixels")
        ax.set_yscale("symlog", linthresh=1e-3)
    axes[-1].set_xlabel("frame")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    lines = ["| stretch | --smoothing | warping error | vs none | still-pixel flicker | vs none | "
             "fidelity (MAE to per-frame) | on moving pixels |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['stretch']} | {r['setting']} | {r['warping_error']:.4f} | {-100 * r['warping_reduction']:+.0f}% | "
              f"{r['still_flicker']:.4f} | {-100 * r['flicker_reduction']:+.0f}% | {r['fidelity']:.4f} | "
              f"{r['fidelity_moving']:.4f} |" for r in rows]
    return "\n".join(lines) + "\n"


def person_table(rows: list[dict]) -> str:
    """:func:`table` with the masks' model in a column, the stretches kept together."""
    lines = [("| stretch | model | --smoothing | warping error | vs none | still-pixel flicker | vs none | "
              "fidelity (MAE to per-frame) | on moving pixels | model's mask keeps | of that dropped | added |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    order = {s[0]: i for i, s in enumerate(STRETCHES)}
    for r in sorted(rows, key=lambda r: (order[r["stretch"]], MODELS.index(r["model"]))):
        lines.append(f"| {r['stretch']} | {r['model']} | {r['setting']} | {r['warping_error']:.4f} | "
                     f"{-100 * r['warping_reduction']:+.0f}% | {r['still_flicker']:.4f} | "
                     f"{-100 * r['flicker_reduction']:+.0f}% | {r['fidelity']:.4f} | {r['fidelity_moving']:.4f} | "
                     f"{100 * r['kept']:.1f}% | {100 * r['dropped']:.1f}% | {100 * r['added']:.1f}% |")
    return "\n".join(lines) + "\n"


def contact_sheet(media: Path, path: Path, first: int = 225, last: int = 237, warm_up: int = 200,
                  model: str = "u2netp", settings=SETTINGS) -> None:
    """Frames [first, last) of Megamind as ``u2live video`` renders them by default (composited over the blurred
    background) and their final alpha (``--mode matte``), two rows per setting (none, ema, motion), from the cached
    masks of ``model``; the states run from ``warm_up`` (the first frame after a scene cut)."""
    from u2live.backgrounds import parse_background
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    frames = decode(media / "Megamind.avi")
    masks = masks_of(media / "Megamind.avi", frames, model)
    rows = []
    for setting in settings:
        spec = "auto" if setting == "motion" else setting
        for mode in ("composite", "matte"):
            stages = Stages(mode=mode, smoother=make_smoother(spec), background=parse_background("blur"))
            tiles = []
            for t in range(warm_up, last):
                out = stages.render(frames[t][0], masks[t], frames[t][1], PipelineStats())
                if t >= first:
                    tile = cv2.resize(np.ascontiguousarray(out[..., :3] if out.ndim == 3 else
                                                           np.repeat(out[..., None], 3, 2)), (150, 110),
                                      interpolation=cv2.INTER_AREA)
                    cv2.putText(tile, f"{setting} {t}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
                    tiles.append(tile)
            stages.close()
            rows.append(np.concatenate(tiles, 1))
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


TUNING = {  # tried on Megamind 0-119 only; the chosen one is the MotionSmoother default
    "motion": ("motion", {}),
    "still 2 moving 10": ("motion", {"still": 2.0, "moving": 10.0}),
    "follow 0.05s": ("motion", {"follow": 0.05}),
    "follow 0.2s": ("motion", {"follow": 0.2}),
    "bound 0.1": ("motion", {"bound": 0.1}),
    "bound 0.2, follow 0.3s": ("motion", {"bound": 0.2, "follow": 0.3}),
    "commit 0.2-0.5": ("motion", {"commit": (0.2, 0.5)}),
    "commit 0.1-0.5": ("motion", {"commit": (0.1, 0.5)}),
    "commit 0.2-0.6": ("motion", {"commit": (0.2, 0.6)}),
    "evidence 0.25s": ("motion", {"evidence": 0.25}),
    "flow 192": ("motion", {"flow_size": 192}),
}


#: spans the curve from following the model closely to holding still pixels still (--tradeoff)
TRADEOFF = {
    "none": ("none", {}),
    "ema": ("ema", {}),
    "motion (default)": ("motion", {}),
    "follow 0.3s": ("motion", {"follow": 0.3}),
    "follow 1s": ("motion", {"follow": 1.0}),
    "still pixels held (follow inf)": ("motion", {"follow": 1e9}),
    "bound 0.1": ("motion", {"bound": 0.1}),
    "bound 0.25": ("motion", {"bound": 0.25}),
    "bound 0.1, follow 1s": ("motion", {"bound": 0.1, "follow": 1.0}),
    "commit 0.25-0.5 (release sooner)": ("motion", {"commit": (0.25, 0.5)}),
    "commit 0.05-0.5 (hold longer)": ("motion", {"commit": (0.05, 0.5)}),
    "evidence 0.1s": ("motion", {"evidence": 0.1}),
    "evidence 0.3s": ("motion", {"evidence": 0.3}),
    "evidence 0.3s, follow 1s": ("motion", {"evidence": 0.3, "follow": 1.0}),
}
#: with --model, also: a pixel committed to the person sooner (the person model's hair hovers just above its edge)
PERSON_TRADEOFF = {
    "commit 0.15-0.4 (take sooner)": ("motion", {"commit": (0.15, 0.4)}),
    "commit 0.15-0.35 (take sooner)": ("motion", {"commit": (0.15, 0.35)}),
}
FIDELITY_BAR, FLICKER_BAR = 0.03, 0.80  # issue 10: fidelity within 0.03, still flicker at least 80% lower


def tradeoff_plot(rows: list[dict], path: Path) -> None:
    """Still-flicker reduction against fidelity, one panel per held-out stretch, the issue's bars shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    held_out = [s[0] for s in STRETCHES[1:]]
    fig, axes = plt.subplots(1, len(held_out), figsize=(6.5 * len(held_out), 5), constrained_layout=True)
    for ax, stretch in zip(axes, held_out):
        points = [r for r in rows if r["stretch"] == stretch and r["setting"] != "none"]
        ax.fill_between([0, FIDELITY_BAR], 100 * FLICKER_BAR, 100, color="tab:green", alpha=0.25,
                        label="both bars met")
        for r in points:
            default = r["setting"] == "motion (default)"
            ax.scatter(r["fidelity"], 100 * r["flicker_reduction"], color="tab:red" if default else "tab:blue",
                       zorder=3)
            ax.annotate(r["setting"], (r["fidelity"], 100 * r["flicker_reduction"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(0, max(0.06, max(r["fidelity"] for r in points) * 1.1))
        ax.set_ylim(0, 100)
        ax.set_title(stretch, fontsize=10)
        ax.set_xlabel("fidelity: MAE to the model's per-frame masks (lower is closer)")
        ax.set_ylabel("still-pixel flicker, % lower than none")
        ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--tune", action="store_true", help="also score the tuning variants (Megamind 0-119)")
    parser.add_argument("--tradeoff", action="store_true",
                        help="only score the TRADEOFF sweep on every stretch (temporal-tradeoff.json/.md/.png; "
                             "with --model, temporal-person-tradeoff.json/.md)")
    parser.add_argument("--sheet", action="store_true", help="only draw the contact sheet of frames 225-236")
    parser.add_argument("--cost", action="store_true", help="only time the states (temporal-cost.json/.md)")
    parser.add_argument("--model", action="append", choices=MODELS,
                        help="whose masks (MODELS; repeat for several): other than u2netp alone, the rows go to "
                             "temporal-person.json/.md, one per model, the state's cost not timed")
    parser.add_argument("--frames", type=int, nargs=3, metavar=("FIRST", "LAST", "WARM_UP"),
                        help="with --sheet: Megamind frames [FIRST, LAST), the states run from WARM_UP")
    args = parser.parse_args()
    models = tuple(args.model or ("u2netp",))
    if args.sheet and models != ("u2netp",) or args.frames:
        first, last, warm_up = args.frames or (225, 237, 200)
        for model in models:
            contact_sheet(args.media, args.out / f"temporal-person-{model}-{first}-{last - 1}.jpg", first, last,
                          warm_up, model=model, settings=("none", "motion"))
        return
    if models != ("u2netp",):
        person_results(args.media, args.out, models, {**TRADEOFF, **PERSON_TRADEOFF} if args.tradeoff else None)
        return
    if args.sheet:
        contact_sheet(args.media, args.out / "temporal-megamind-225-236.jpg")
        return
    if args.cost:
        timing = time_per_frame(args.media)
        (args.out / "temporal-cost.json").write_text(json.dumps(timing, indent=1) + "\n")
        (args.out / "temporal-cost.md").write_text(_cost_line(timing) + "\n")
        print(_cost_line(timing))
        return
    if args.tradeoff:
        rows = evaluate(args.media, TRADEOFF)
        data = {"date": time.strftime("%Y-%m-%d"), "rows": rows}
        (args.out / "temporal-tradeoff.json").write_text(json.dumps(data, indent=1) + "\n")
        tradeoff_plot(rows, args.out / "temporal-tradeoff.png")
        text = f"`python benchmarks/temporal.py --tradeoff`, {data['date']}.\n\n{table(rows)}"
        (args.out / "temporal-tradeoff.md").write_text(text)
        print(text)
        return
    settings = {s: (s, {}) for s in SETTINGS}
    if args.tune:
        settings.update(TUNING)
    rows = evaluate(args.media, settings)
    if args.tune:
        rows = [r for r in rows if r["setting"] in SETTINGS or r["stretch"] == STRETCHES[0][0]]
    timing = time_per_frame(args.media)
    machine = describe(machine_info())
    data = {"date": time.strftime("%Y-%m-%d"), "machine": machine, "timing": timing, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "temporal.json").write_text(json.dumps(data, indent=1) + "\n")
    plot([r for r in rows if r["setting"] in SETTINGS], args.out / "temporal-flicker.png")
    text = (f"`python benchmarks/temporal.py{' --tune' if args.tune else ''}`, {data['date']}, {machine}.\n\n"
            f"{table([r for r in rows if r['setting'] in SETTINGS])}\n{_cost_line(timing)}\n")
    if args.tune:
        text += "\nTuning variants (Megamind 0-119 only):\n\n" + table([r for r in rows if r["setting"] in TUNING])
    (args.out / "temporal.md").write_text(text)
    print(text)


def person_results(media: Path, out: Path, models: tuple[str, ...], sweep: dict | None = None) -> None:
    """--model: the three settings on each model's masks, into temporal-person.json/.md; with ``sweep``
    (--tradeoff) its settings instead, into temporal-person-tradeoff.json/.md."""
    rows = evaluate(media, sweep or {s: (s, {}) for s in SETTINGS}, models)
    machine = describe(machine_info())
    data = {"date": time.strftime("%Y-%m-%d"), "machine": machine, "models": list(models), "rows": rows}
    out.mkdir(parents=True, exist_ok=True)
    name = "temporal-person-tradeoff" if sweep else "temporal-person"
    (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    flags = " ".join(f"--model {m}" for m in models) + (" --tradeoff" if sweep else "")
    text = f"`python benchmarks/temporal.py {flags}`, {data['date']}, {machine}.\n\n{person_table(rows)}"
    (out / f"{name}.md").write_text(text)
    print(text)


def _cost_line(timing: dict) -> str:
    ms = ", ".join(f"{k} {v:.2f} ms (mean {timing['ms_cpu_mean_1280x720'][k]:.2f})"
                   for k, v in timing["ms_cpu_per_frame_1280x720"].items())
    inflation = timing["calibration_ms"] / timing["calibration_quiet_ms"]
    return (f"CPU time the state adds per 1280x720 frame ({timing['threads']} thread, thread CPU time, median of "
            f"{timing['frames_timed']} interleaved): {ms}; load average {' '.join(timing['loadavg_before'])} "
            f"before, {' '.join(timing['loadavg_after'])} after. "
            f"Calibration in the same run: DIS ultrafast at 320x180 took {timing['calibration_ms']:.2f} ms against "
            f"{timing['calibration_quiet_ms']} ms on the quiet machine (DESIGN.md), {inflation:.1f}x; scaled by "
            f"that, motion would cost {timing['ms_cpu_per_frame_1280x720']['motion'] / inflation:.2f} ms quiet "
            f"(an estimate, not a measurement).")


if __name__ == "__main__":
    main()
