"""Measure the mask stages on real footage: temporal smoothing (flicker vs fidelity) and full-resolution refinement.

Smoothing: the bundled U2-Net† runs once per frame (torch backend, size 320) and the raw
sigmoid masks are cached under ``.cache/masks/`` for reuse. Each ``--smoothing`` setting is then replayed over the
cached masks and scored by

- flicker: mean |m_t - m_{t-1}| over the clip (lower is calmer), and its reduction against ``none``;
- fidelity: mean |smoothed_t - raw_t| (the issue's bound: at most 0.03).

Tuning was done on Megamind frames 0-59; frames 60-119 are held out, and so is ``tree.avi`` (a tree in wind; only
68 of its 444 declared frames decode, 0.33-0.73 s apart, so a time-weighted smoother rightly does little there). (Not the whole clips, to keep the run short on a small machine; the stretches grow with MAX_FRAMES, and the cache resumes.)

Refinement: the bundled model on the authors' reference images; bilinear vs guided upsampling of the 320x320 mask,
scored against the published full-resolution ``u2netp_results`` (MAE, edge MAE, and sharpness: the width of the
undecided band per contour pixel) and timed at 720x528 on CPU.

Usage: ``python benchmarks/smoothing.py [--media DIR] [--reference DIR] [--out benchmarks/results]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from u2live import backends  # noqa: E402
from u2live.bench.machine import describe, machine_info  # noqa: E402
from u2live.images import read_rgb  # noqa: E402
from u2live.preprocess import normalise_minmax  # noqa: E402
from u2live.kernels_torch import refine_mask as refine_mask_torch, upsample_mask  # noqa: E402
from u2live.refine import refine_mask  # noqa: E402
from u2live.smoothing import make_smoother  # noqa: E402

MEDIA = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
REFERENCE = REPO.parent / "shared" / "reference" / "u2net"
CACHE = REPO / ".cache" / "masks"
SETTINGS = ["none", "light", "auto", "strong", "50ms", "500ms"]
# (label, clip file, first frame, last frame exclusive; None = to the end)
STRETCHES = [
    ("Megamind 0-59 (tuned on)", "Megamind.avi", 0, 60),
    ("Megamind 60-119 (held out)", "Megamind.avi", 60, 120),
    ("tree, all 68 frames, VFR 1.4-3 fps (held out)", "tree.avi", 0, None),
]
MAX_FRAMES = {"Megamind.avi": 120}
# the default first; then one change each (contrast 1 = the plain guided filter of the model's soft mask)
# ("guided" runs OpenCV's kernels on the CPU; "guided-torch" is the torch path GPUs take, the plain reference)
REFINE_SETTINGS = [{"method": "guided"}, {"method": "guided-torch"}, {"method": "guided", "contrast": 1.0}, {"method": "guided", "radius": 2},
                   {"method": "guided", "eps": 1e-4}, {"method": "guided", "grid": 160},
                   {"method": "guided", "guide": "color"}]


def decode(path: Path, max_frames: int | None = None):
    """Yield (rgb [H, W, 3] uint8, pts seconds) for each frame of ``path``."""
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                return
            yield frame.to_ndarray(format="rgb24"), float(frame.time)


def clip_masks(path: Path, size: int = 320, max_frames: int | None = None, log=print):
    """(masks [T, size, size] float32 raw sigmoid d0, pts [T] float64), cached in ``.cache/masks`` and saved every
    few frames, so an interrupted run resumes where it stopped."""
    cache = CACHE / f"{path.stem}-{size}.npz"
    masks, pts = [], []
    if cache.is_file():
        with np.load(cache) as data:
            masks, pts = list(data["masks"]), list(data["pts"])
    wanted = max_frames if max_frames is not None else _frame_count(path)
    if len(masks) < wanted:
        started = time.perf_counter()
        with backends.create("torch", size=size, log=lambda s: None) as segmenter:
            for i, (image, t) in enumerate(decode(path, wanted)):
                if i < len(masks):
                    continue
                masks.append(segmenter.predict([image])[0].astype(np.float16))
                pts.append(t)
                if len(masks) % 10 == 0 or len(masks) == wanted:
                    _save(cache, masks, pts)
                    log(f"{path.name}: {len(masks)}/{wanted} frames ({time.perf_counter() - started:.0f} s)")
    # AVIs with packed B-frames (Megamind.avi) decode in display order with permuted pts (3, 5, 4, 6, 8, 7);
    # u2live.sources repairs them, and so do we: the k-th frame shown gets the k-th smallest pts
    return np.stack(masks[:wanted]).astype(np.float32), np.sort(np.array(pts[:wanted]))


def _frame_count(path: Path) -> int:
    return sum(1 for _ in decode(path))


def _save(cache: Path, masks: list, pts: list) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")  # written whole, then renamed: an interrupted run leaves no stub
    np.savez_compressed(partial, masks=np.stack(masks), pts=np.array(pts))
    partial.replace(cache)


def smoothing_scores(masks: np.ndarray, pts: np.ndarray, setting: str) -> dict:
    """Replay ``setting`` over raw masks [T, S, S]: flicker (mean |m_t - m_t-1|) and MAE against the raw masks."""
    smoother = make_smoother(setting)
    raw = torch.from_numpy(masks)
    out = raw if smoother is None else torch.stack([smoother.update(m, float(t)) for m, t in zip(raw, pts)])
    return {"flicker": float((out[1:] - out[:-1]).abs().mean()), "mae_vs_raw": float((out - raw).abs().mean())}


def smoothing_report(media: Path) -> list[dict]:
    rows = []
    for label, name, first, last in STRETCHES:
        masks, pts = clip_masks(media / name, max_frames=MAX_FRAMES.get(name))
        masks, pts = masks[first:last], pts[first:last]
        base = None
        for setting in SETTINGS:
            score = smoothing_scores(masks, pts, setting)
            base = base or score["flicker"]
            rows.append({"stretch": label, "frames": len(masks), "setting": setting, **score,
                         "flicker_reduction": 1.0 - score["flicker"] / base})
    return rows


def reference_masks(reference: Path, size: int = 320):
    """{stem: (image, model mask [S, S] min-max normalised, published U2-Net† mask, published U2-Net mask)}."""
    cache = CACHE / f"reference-{size}.npz"
    images = sorted((reference / "test_images").iterdir())
    if not cache.is_file():
        with backends.create("torch", size=size, log=lambda s: None) as segmenter:
            found = {p.stem: segmenter.predict([read_rgb(p)])[0] for p in images}
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(".partial.npz")
        np.savez_compressed(partial, **found)
        partial.replace(cache)
    with np.load(cache) as data:
        model = {k: normalise_minmax(data[k]) for k in data.files}
    def published(folder: str, stem: str) -> np.ndarray:
        return read_rgb(reference / folder / f"{stem}.png")[..., 0] / np.float32(255)

    return {p.stem: (read_rgb(p), model[p.stem], published("u2netp_results", p.stem),
                     published("u2net_results", p.stem)) for p in images}


def edge_scores(mask: np.ndarray, published: np.ndarray, image: np.ndarray) -> dict:
    """MAE over the image and over the published mask's edge band (within 8 px of its 0.5 contour); the mean
    width in pixels of the undecided band (0.1 < m < 0.9) per pixel of contour (lower is sharper); and edge
    alignment: the image's gradient where the mask changes, relative to its mean gradient (higher = the mask's
    edges sit on the picture's edges)."""
    binary = published > 0.5
    contour = np.zeros_like(binary)
    contour[:, 1:] |= binary[:, 1:] != binary[:, :-1]
    contour[1:, :] |= binary[1:, :] != binary[:-1, :]
    near = torch.nn.functional.max_pool2d(torch.from_numpy(contour.astype(np.float32))[None, None], 17,
                                          stride=1, padding=8)[0, 0].numpy() > 0
    undecided = ((mask > 0.1) & (mask < 0.9)).sum()
    return {"mae": float(np.abs(mask - published).mean()),
            "edge_mae": float(np.abs(mask - published)[near].mean()) if near.any() else 0.0,
            "band_px": float(undecided / max(contour.sum(), 1)), "alignment": _alignment(mask, image)}


def _alignment(mask: np.ndarray, image: np.ndarray) -> float:
    gray = image.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    grad_i = np.abs(np.diff(gray, axis=1))[:-1] + np.abs(np.diff(gray, axis=0))[:, :-1]
    grad_m = np.abs(np.diff(mask, axis=1))[:-1] + np.abs(np.diff(mask, axis=0))[:, :-1]
    return float((grad_m * grad_i).sum() / max(grad_m.sum(), 1e-9) / max(grad_i.mean(), 1e-9))


def refine_report(reference: Path, settings: list[dict]) -> list[dict]:
    data = reference_masks(reference)
    rows = []
    for setting in [{"method": "bilinear"}, {"method": "bilinear+contrast2"}, {"method": "published"}, *settings]:
        scores = []
        for image, mask, published, large in data.values():
            if setting["method"] == "published":
                q = published
            elif setting["method"].startswith("bilinear"):
                q = upsample_mask(torch.from_numpy(mask), *image.shape[:2]).numpy()
                if setting["method"].endswith("contrast2"):  # steepening alone, without the frame's guidance
                    q = np.clip((q - 0.5) * 2 + 0.5, 0, 1)
            else:
                q = refined(setting, mask, image)
            scores.append({**edge_scores(q, published, image), "mae_u2net": float(np.abs(q - large).mean())})
        rows.append({"label": _label(setting), **setting,
                     **{k: float(np.mean([s[k] for s in scores])) for k in scores[0]}})
    return rows


def refined(setting: dict, mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``mask`` refined on ``image`` as ``setting`` says: the CPU's OpenCV filter for the gray guide, the torch one
    for ``guided-torch`` and the colour guide."""
    options = {k: v for k, v in setting.items() if k != "method"}
    if setting["method"] == "guided-torch" or options.get("guide", "gray") != "gray":
        return refine_mask_torch(torch.from_numpy(mask), torch.from_numpy(image.copy()), **options).numpy()
    options.pop("guide", None)
    return refine_mask(mask, image, **options)


def refine_timing(settings: list[dict], repeats: int = 30) -> list[dict]:
    """ms per call at 720x528 from a 320x320 mask, one thread, interleaved so load hits every method alike."""
    torch.set_num_threads(1)
    frames = decode(MEDIA / "Megamind.avi", max_frames=101)
    image = [f for f, _ in frames][-1]  # frame 100: a face (frame 0 is black)
    mask = np.random.default_rng(0).random((320, 320), dtype=np.float32)
    calls = {"bilinear": lambda: upsample_mask(torch.from_numpy(mask), 528, 720)}
    for s in settings:
        calls[_label(s)] = lambda setting=s: refined(setting, mask, image)
    totals = dict.fromkeys(calls, 0.0)
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            totals[name] += time.perf_counter() - started
    return [{"method": name, "ms": 1000 * total / repeats} for name, total in totals.items()]


def _label(setting: dict) -> str:
    options = " ".join(f"{k}={v}" for k, v in setting.items() if k != "method")
    if setting["method"] == "guided-torch":
        return "guided (default), torch path"
    return f"guided {options}" if options else ("guided (default)" if setting["method"] == "guided"
                                                else setting["method"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--masks-only", action="store_true", help="only compute and cache the clips' masks")
    parser.add_argument("--part", choices=["all", "smoothing", "refine"], default="all")
    args = parser.parse_args()
    if args.masks_only:
        for name in dict.fromkeys(s[1] for s in STRETCHES):
            clip_masks(args.media / name, max_frames=MAX_FRAMES.get(name))
        return
    machine = f"{describe(machine_info())}; {torch.get_num_threads()} torch threads"
    stamp = time.strftime("%Y-%m-%d")
    if args.part in ("all", "smoothing"):
        rows = smoothing_report(args.media)
        _write(args.out / "smoothing-temporal", {"date": stamp, "machine": machine, "rows": rows},
               _smoothing_table(rows))
    if args.part in ("all", "refine"):
        quality = refine_report(args.reference, REFINE_SETTINGS)
        timing = refine_timing(REFINE_SETTINGS)
        _write(args.out / "smoothing-refine", {"date": stamp, "machine": machine, "quality": quality,
                                               "timing_720x528": timing}, _refine_tables(quality, timing))


def _write(stem: Path, data: dict, table: str) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    table = f"`python benchmarks/smoothing.py`, {data['date']}, {data['machine']}.\n\n{table}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table)
    print(table)


def _smoothing_table(rows: list[dict]) -> str:
    lines = ["| stretch | frames | --smoothing | flicker mean abs(m_t - m_t-1) | reduction vs none | MAE vs per-frame |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['stretch']} | {r['frames']} | {r['setting']} | {r['flicker']:.4f} | "
              f"{100 * r['flicker_reduction']:.1f}% | {r['mae_vs_raw']:.4f} |" for r in rows]
    return "\n".join(lines) + "\n"


def _refine_tables(quality: list[dict], timing: list[dict]) -> str:
    lines = ["Against the authors' published u2netp_results (18 images): MAE over the image, MAE within 8 px of the "
             "published contour, the undecided band (0.1 < m < 0.9) in px per contour px (lower = sharper), and edge "
             "alignment (image gradient where the mask changes / mean image gradient; higher = edges on the picture's "
             "edges).", "",
             "The last column compares with the full U2-Net's published masks (a larger, better model).", "",
             "| method | MAE | edge MAE | band px | alignment | MAE vs U2-Net |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {q['label']} | {q['mae']:.4f} | {q['edge_mae']:.4f} | {q['band_px']:.2f} | {q['alignment']:.2f} | "
              f"{q['mae_u2net']:.4f} |" for q in quality]
    lines += ["", "Time per frame at 720x528 from a 320x320 mask, one torch thread (interleaved runs):", "",
              "| method | ms |", "|---|---:|"]
    lines += [f"| {t['method']} | {t['ms']:.2f} |" for t in timing]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
