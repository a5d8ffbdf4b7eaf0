"""People seen from behind at the frame's edge (issue 23): which network, size or framing keeps them.

Megamind.avi is an over-the-shoulder dialogue: in frame 135 the woman is seen from behind at the left edge (cheek,
earring, shoulder), in frame 185 the man from behind at the right edge (the side of his face, hair). The main job
at its defaults shows the woman as a half-transparent ghost and removes the man. Hand-checked regions of both
frames (``tests/data/megamind_regions.json``: well inside each person, well inside the background) are scored per
candidate as the mean of its mask at the frame's size over each region (1: kept whole, 0: removed):

- ``main job``: what ``u2live video`` renders at its defaults (``--model auto``, the motion smoother from frame 0,
  refinement: the alpha that is composited);
- ``auto``: ``--model auto``'s masks alone (CPU backend, the video precision: U2-Net† INT8 at 320);
- the selfie network (our torch port) with the general weights at 192, 256 (what auto runs), 320 and 384, the
  landscape weights at 144x256, and the general ones on the frame padded by 15% of black on every side (a person
  cut by the edge is no longer at it);
- U2-Net† FP32 at 160 and 320, and ``auto+touching-salient`` (auto's mask extended by U2-Net† 320's salient
  regions that overlap it, ``benchmarks/people.py``'s benchmark-only row).

Writes ``benchmarks/results/people-behind.md`` and ``.json``, and ``people-behind.jpg`` (the frames with the main
job's alpha and the best selfie variant over them).

Usage: ``python benchmarks/people_behind.py``
"""
from __future__ import annotations

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

from benchmarks.people import loadavg, machine, overlay, touching_union

REGIONS = REPO / "tests" / "data" / "megamind_regions.json"
CLIP = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
RESULTS = REPO / "benchmarks" / "results"
SELFIE_EDGE = 0.3  # the selfie model's level at a person's edge (catalog.INPUTS), moved to 0.5 as the product does


def region_masks(frame: int, shape) -> dict[str, np.ndarray]:
    """{region name: [H, W] bool} of ``frame`` from the hand-checked polygons."""
    out = {}
    for name, polygons in json.loads(REGIONS.read_text())["frames"][str(frame)].items():
        mask = np.zeros(shape, np.uint8)
        cv2.fillPoly(mask, [np.array(p, np.int32) for p in polygons], 1)
        out[name] = mask.astype(bool)
    return out


def kept(mask: np.ndarray, frame: int) -> dict[str, float]:
    """{region: mean of ``mask`` ([H, W] in [0, 1] at the frame's size) over it}."""
    return {name: float(mask[region].mean()) for name, region in region_masks(frame, mask.shape).items()}


def selfie(net, rgb: np.ndarray, height: int, width: int, pad: float = 0.0) -> np.ndarray:
    """The selfie network's mask of ``rgb`` at the frame's size: stretched to ``height`` x ``width`` as MediaPipe
    does, optionally after padding every side by ``pad`` of the frame with black."""
    h, w = rgb.shape[:2]
    py, px = round(h * pad), round(w * pad)
    framed = cv2.copyMakeBorder(rgb, py, py, px, px, cv2.BORDER_CONSTANT, value=0) if pad else rgb
    x = cv2.resize(framed, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    with torch.no_grad():
        mask = net(torch.from_numpy(x).permute(2, 0, 1)[None])[0, 0].numpy()
    mask = cv2.resize(mask.clip(0.0, 1.0) ** (np.log(0.5) / np.log(SELFIE_EDGE)), framed.shape[1::-1])
    return mask[py:py + h, px:px + w]


def main_job(frames: dict[int, np.ndarray], last: int) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """({frame: auto's mask}, {frame: the rendered alpha}) for the wanted frames, running auto, the default
    smoother and refinement over every frame from 0 as ``u2live video`` does at its defaults."""
    from u2live.job import open_segmenter
    from u2live.refine import refine_mask
    from u2live.smoothing import make_smoother
    from u2live.spec import ModelSpec

    masks, alphas = {}, {}
    smoother = make_smoother("auto")
    with open_segmenter(ModelSpec(), live=False, log=lambda line: None) as auto, av.open(str(CLIP)) as clip:
        rate = clip.streams.video[0].time_base
        for i, decoded in zip(range(last + 1), clip.decode(video=0)):
            image = torch.from_numpy(decoded.to_ndarray(format="rgb24"))
            mask = auto.predict_frames(image[None])[0]
            alpha = refine_mask(smoother.update(mask, float(decoded.pts * rate), image=image), image, dtype=torch.uint8)
            if i in frames:
                size = frames[i].shape[1::-1]
                masks[i] = cv2.resize(mask.numpy(), size)
                alphas[i] = alpha.numpy() / 255.0
    return masks, alphas


def candidates(frames: dict[int, np.ndarray]) -> dict[str, dict[int, np.ndarray]]:
    """{candidate: {frame: [H, W] mask in [0, 1]}}."""
    from u2live import backends
    from u2live.selfie_model import load_selfie

    auto, rendered = main_job(frames, max(frames))
    out = {"main job (rendered alpha)": rendered, "auto": auto}
    general, landscape = load_selfie(variant="general"), load_selfie(variant="landscape")
    for name, net, h, w, pad in (("selfie 256 (general)", general, 256, 256, 0), ("selfie 192", general, 192, 192, 0),
                                 ("selfie 320", general, 320, 320, 0), ("selfie 384", general, 384, 384, 0),
                                 ("selfie landscape 144x256", landscape, 144, 256, 0),
                                 ("selfie 256, padded 15%", general, 256, 256, 0.15),
                                 ("selfie landscape, padded 15%", landscape, 144, 256, 0.15)):
        out[name] = {i: selfie(net, rgb, h, w, pad) for i, rgb in frames.items()}
    for size in (160, 320):
        with backends.create("cpu", model="u2netp", size=size, precision="fp32", log=lambda line: None) as salient:
            out[f"u2netp {size} fp32"] = {i: cv2.resize(salient.predict([rgb])[0], rgb.shape[1::-1])
                                          for i, rgb in frames.items()}
    out["auto+touching-salient"] = {i: touching_union(_u8(auto[i]), _u8(out["u2netp 320 fp32"][i])) / 255.0
                                    for i in frames}
    return out


def _u8(mask: np.ndarray) -> np.ndarray:
    return (mask.clip(0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def decode(wanted: set[int]) -> dict[int, np.ndarray]:
    with av.open(str(CLIP)) as clip:
        return {i: f.to_ndarray(format="rgb24") for i, f in zip(range(max(wanted) + 1), clip.decode(video=0))
                if i in wanted}


def markdown(scores: dict, info: dict) -> str:
    columns = [(frame, region) for frame in sorted(next(iter(scores.values())), key=int)
               for region in next(iter(scores.values()))[frame]]
    lines = ["# People seen from behind at the frame's edge (issue 23)", "",
             ("Megamind.avi frames 135 (the woman from behind at the left edge) and 185 (the man from behind at the "
              "right edge): the mean of each candidate's mask over hand-checked regions (`tests/data/"
              "megamind_regions.json`; 1 = kept whole, 0 = removed). Made by `benchmarks/people_behind.py`; the "
              "frames with the main job's alpha: `people-behind.jpg`."), "",
             (f"Machine: {info['machine']}; load average {info['load_before']} before, {info['load_after']} after; "
              f"{info['date']}."), "",
             "| candidate | " + " | ".join(f"{f}: {r}" for f, r in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, by_frame in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{by_frame[f][r]:.2f}" for f, r in columns) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    info = {"machine": machine(), "load_before": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    frames = decode({135, 185})
    masks = candidates(frames)
    scores = {name: {str(i): kept(m, i) for i, m in by_frame.items()} for name, by_frame in masks.items()}
    info["load_after"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "people-behind.json").write_text(json.dumps({"info": info, "kept": scores}, indent=1) + "\n")
    (RESULTS / "people-behind.md").write_text(markdown(scores, info))
    shown = ("main job (rendered alpha)", "selfie landscape, padded 15%", "u2netp 160 fp32")
    rows = [np.hstack([overlay(rgb, _u8(masks[name][i])) for name in shown]) for i, rgb in frames.items()]
    cv2.imwrite(str(RESULTS / "people-behind.jpg"), cv2.cvtColor(cv2.resize(np.vstack(rows), None, fx=0.5, fy=0.5,
                interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    print((RESULTS / "people-behind.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
