"""Our selfie network (u2live/selfie_model.py) against Google MediaPipe's own runtime, on real pictures.

    python benchmarks/selfie_parity.py --mediapipe-python /work/venvs/mediapipe/bin/python [--save-test-data]

The original runs in a separate virtual environment (see benchmarks/selfie_reference.py). Both get the exact same
uint8 pictures at the model's size (the general model at 256x256, the landscape one at 144x256; nearest-neighbour
samples of the originals, so anyone can rebuild them bit for bit); the original's graph turns them into [0, 1]
tensors with an identity warp, ours divides by 255. Per picture: the mean and the largest absolute difference of
the probabilities, and the share of pixels on the other side of 0.5. Also:

- our network exported to ONNX (opset 17, as the ``cpu`` backend exports) and run by ONNX Runtime, same pictures;
- sensitivity: the same comparison with align_corners=True upsampling, and with symmetric stride-2 padding, to show
  the conventions we chose are the original's and that the comparison would see them wrong;
- end to end on the full-resolution pictures (MediaPipe resizes them itself): our network behind MediaPipe's own
  resize reproduced (a perspective warp of the pixel-corner rectangle, bilinear, no antialiasing), behind
  cv2.resize's bilinear (half-pixel centres, no antialiasing) and behind cv2.INTER_AREA, each with the mask resized
  back bilinearly as MediaPipe does;
- one 256x256 forward in torch on this CPU (1 thread and every core), ONNX Runtime's, and MediaPipe's ``process``.

Writes benchmarks/results/selfie-parity.json and .md and a contact sheet selfie-parity.jpg (picture | original |
ours); ``--save-test-data`` also writes the original's masks of a few pictures to tests/data/selfie/ for the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mediapipe_runs import load, median_ms, reference  # noqa: E402
from u2live import selfie_model  # noqa: E402
from u2live.images import read_rgb  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
AUTHORS = REPO / "tests" / "data" / "u2net" / "test_images"
TEST_DATA = REPO / "tests" / "data" / "selfie"
MEDIA = Path(os.environ.get("U2LIVE_MEDIA") or
             REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data")
PHOTOS = ["messi5.jpg", "fruits.jpg", "baboon.jpg", "butterfly.jpg", "home.jpg", "starry_night.jpg",
          "basketball1.png", "squirrel_cls.jpg"]
FRAMES = {"Megamind.avi": (30, 135, 230), "vtest.avi": (100, 400)}
TEST_PICTURES = ["girl", "hockey", "im_14", "bike"]  # authors' pictures whose original masks the tests keep
SHEET = ["astronaut", "Megamind-135", "girl", "vtest-100", "messi5", "fruits"]
TOLERANCE = 0.01  # mean absolute difference per picture, the bar



def frames(path: Path, indices) -> list[np.ndarray]:
    import av

    wanted, found = set(indices), []
    with av.open(str(path)) as clip:
        for index, frame in enumerate(clip.decode(video=0)):
            if index in wanted:
                found.append(frame.to_ndarray(format="rgb24"))
            if len(found) == len(wanted):
                break
    return found


def pictures() -> dict[str, np.ndarray]:
    """name -> full-resolution uint8 RGB: the authors' 18, the astronaut, OpenCV's photos and clip frames."""
    found = {p.stem: read_rgb(p) for p in sorted(AUTHORS.iterdir())}
    try:
        from skimage import data

        found["astronaut"] = data.astronaut()
    except ImportError:
        print("scikit-image is not installed: no astronaut", file=sys.stderr)
    for name in PHOTOS:
        found[Path(name).stem] = read_rgb(MEDIA / name)
    for clip, indices in FRAMES.items():
        for index, frame in zip(indices, frames(MEDIA / clip, indices)):
            found[f"{Path(clip).stem}-{index}"] = frame
    return found


def sample(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour sample at pixel centres: exact integer indexing that any machine reproduces bit for bit."""
    rows = ((np.arange(height) + 0.5) * rgb.shape[0] / height).astype(np.int64)
    cols = ((np.arange(width) + 0.5) * rgb.shape[1] / width).astype(np.int64)
    return np.ascontiguousarray(rgb[rows][:, cols])


def mediapipe_resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """What MediaPipe's ImageToTensorCalculator does on the CPU for the whole picture: the perspective warp of
    its pixel-corner rectangle onto the tensor's, bilinear (dst x samples src x * W / width, no half-pixel shift)."""
    h, w = rgb.shape[:2]
    src = np.float32([[0, h], [0, 0], [w, 0], [w, h]])
    dst = np.float32([[0, height], [0, 0], [width, 0], [width, height]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)



def predict(net: torch.nn.Module, batch: np.ndarray) -> np.ndarray:
    """[N, H, W, 3] uint8 -> [N, H, W] probabilities, as the original's graph scales its input (pixel / 255)."""
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return torch.cat([net(chunk) for chunk in x.split(8)])[:, 0].numpy()


def differences(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Per picture: mean and largest absolute difference, share of pixels on the other side of 0.5."""
    gap = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).reshape(len(ours), -1)
    flips = ((ours > 0.5) != (theirs > 0.5)).reshape(len(ours), -1)
    return {"mean": gap.mean(1).tolist(), "max": gap.max(1).tolist(), "flipped": flips.mean(1).tolist()}


def summary(rows: dict) -> dict:
    return {"mean of means": float(np.mean(rows["mean"])), "worst mean": float(np.max(rows["mean"])),
            "worst max": float(np.max(rows["max"])), "worst flipped": float(np.max(rows["flipped"]))}


def align_corners_true(*args, **kwargs):
    return ORIGINAL_INTERPOLATE(*args, **{**kwargs, "align_corners": True})


ORIGINAL_INTERPOLATE = torch.nn.functional.interpolate


def symmetric_padding(net: torch.nn.Module) -> torch.nn.Module:
    """A copy whose stride-2 convolutions pad (k-1)/2 on every side (torch's habit) instead of TensorFlow's SAME."""
    import copy

    net = copy.deepcopy(net)
    for module in net.modules():
        if isinstance(module, selfie_model.SamePadConv) and module.explicit:
            module.explicit = False
            module.conv.padding = ((module.conv.kernel_size[0] - 1) // 2,) * 2
    return net


def sensitivity(net, inputs: np.ndarray, theirs: np.ndarray) -> dict:
    with mock.patch.object(torch.nn.functional, "interpolate", align_corners_true):
        aligned = predict(net, inputs)
    return {"align_corners=True upsampling": summary(differences(aligned, theirs)),
            "symmetric stride-2 padding": summary(differences(predict(symmetric_padding(net), inputs), theirs))}


def onnx_masks(net, inputs: np.ndarray) -> np.ndarray:
    """Our network exported as the ``cpu`` backend exports (opset 17, dynamic batch), run by ONNX Runtime."""
    import onnxruntime

    from u2live.backends.export import onnx_bytes

    session = onnxruntime.InferenceSession(onnx_bytes(net, 256), providers=["CPUExecutionProvider"])
    x = inputs.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return np.concatenate([session.run(None, {"input": x[i:i + 8]})[0] for i in range(0, len(x), 8)])[:, 0]


def end_to_end(net, full: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> dict:
    """Full-resolution masks: ours behind MediaPipe's resize reproduced, cv2's bilinear and cv2.INTER_AREA."""
    rows = {}
    resizes = {"MediaPipe's warp reproduced": mediapipe_resize,
               "cv2.INTER_LINEAR (half-pixel)": lambda rgb, h, w: cv2.resize(rgb, (w, h)),
               "cv2.INTER_AREA": lambda rgb, h, w: cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)}
    for label, resize in resizes.items():
        means, flips = {}, {}
        for name, rgb in full.items():
            small = predict(net, resize(rgb, 256, 256)[None])[0]
            mask = cv2.resize(small, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
            means[name] = float(np.abs(mask - theirs[name]).mean())
            flips[name] = float(((mask > 0.5) != (theirs[name] > 0.5)).mean())
        worst = max(means, key=means.get)
        rows[label] = {"mean of means": float(np.mean(list(means.values()))), "worst mean": means[worst],
                       "worst picture": worst, "worst flipped": max(flips.values())}
    return rows



def timings(net, ort_session_input: np.ndarray) -> dict:
    """Median ms of one 256x256 forward: torch at 1 thread and at every core, ONNX Runtime at its default."""
    import onnxruntime

    from u2live.backends.export import onnx_bytes

    x = torch.from_numpy(ort_session_input[:1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    out = {"load before": load()}
    threads = torch.get_num_threads()
    for count in (1, threads):
        torch.set_num_threads(count)
        with torch.no_grad():
            out[f"torch {count} thread(s) ms"] = median_ms(lambda: net(x))
    torch.set_num_threads(threads)
    session = onnxruntime.InferenceSession(onnx_bytes(net, 256), providers=["CPUExecutionProvider"])
    out["onnxruntime ms"] = median_ms(lambda: session.run(None, {"input": x.numpy()}))
    out["load after"] = load()
    return out


def contact_sheet(inputs: dict[str, np.ndarray], theirs: dict[str, np.ndarray], ours: dict[str, np.ndarray],
                  path: Path, cell: int = 192) -> None:
    """One row per picture: the 256x256 input both saw | the original's mask | ours."""
    def tile(image: np.ndarray) -> np.ndarray:
        image = image if image.ndim == 3 else np.repeat((np.clip(image, 0, 1) * 255).astype(np.uint8)[..., None], 3, 2)
        return cv2.resize(image, (cell, cell), interpolation=cv2.INTER_AREA)

    header = np.full((28, cell * 3, 3), 255, np.uint8)
    for column, text in enumerate(("picture (256x256 input)", "MediaPipe (original)", "u2live (ours)")):
        cv2.putText(header, text, (column * cell + 6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header] + [np.hstack([tile(inputs[n]), tile(theirs[n]), tile(ours[n])]) for n in SHEET]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def save_test_data(inputs: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> list[str]:
    """The original's 256x256 masks of TEST_PICTURES as 16-bit PNGs (probability * 65535, rounded)."""
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TEST_PICTURES:
        path = TEST_DATA / f"{name}.png"
        cv2.imwrite(str(path), np.round(theirs[name].astype(np.float64) * 65535).astype(np.uint16),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
        written.append(f"{path.relative_to(REPO)} ({path.stat().st_size} bytes)")
    return written


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    system = f"{platform.system()} {platform.machine()}"
    return f"{model}, {os.cpu_count()} cores ({isa}), {system}, torch {torch.__version__}"


def source_hashes() -> dict:
    """The sha256 of the .tflite files our bundled weights were imported from (scripts/import_selfie.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_selfie", REPO / "scripts" / "import_selfie.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {f"{name}.tflite": digest for name, digest in module.SOURCES.values()}


def measure(python: str) -> tuple[dict, dict]:
    """Everything the report says, and the pictures/masks the sheet and the test data need."""
    full = pictures()
    names = list(full)
    inputs = {"general": np.stack([sample(full[n], 256, 256) for n in names]),
              "landscape": np.stack([sample(full[n], 144, 256) for n in names]),
              **{f"full_{i}": full[n] for i, n in enumerate(names)}}
    theirs, info = reference(python, "selfie_reference.py", inputs)
    if any(info["models"].get(name) != digest for name, digest in source_hashes().items()):
        raise SystemExit(f"MediaPipe ran other model files than we imported: {info['models']}")
    nets = {variant: selfie_model.load_selfie(variant=variant) for variant in selfie_model.INPUT_SIZE}
    ours = {variant: predict(net, inputs[variant]) for variant, net in nets.items()}
    rows = {variant: differences(ours[variant], theirs[variant]) for variant in nets}
    general = nets["general"]
    result = {
        "machine": machine(), "load": load(), "mediapipe": info["mediapipe"], "models": info["models"],
        "pictures": [{"name": n, "size": f"{full[n].shape[1]}x{full[n].shape[0]}",
                      "share above 0.5 (original, general)": float((theirs["general"][i] > 0.5).mean()),
                      **{f"{v} {k}": rows[v][k][i] for v in rows for k in rows[v]}} for i, n in enumerate(names)],
        "summary": {variant: summary(rows[variant]) for variant in rows},
        "onnxruntime (general)": summary(differences(onnx_masks(general, inputs["general"]), theirs["general"])),
        "sensitivity (general)": sensitivity(general, inputs["general"], theirs["general"]),
        "end to end, full resolution (general)": end_to_end(
            general, full, {n: theirs[f"full_{i}"] for i, n in enumerate(names)}),
        "timings": {**timings(general, inputs["general"]),
                    "mediapipe process ms (256x256 picture, whole graph)":
                        1000 * statistics.median(info["seconds"]["general"])},
        "tolerance (mean per picture)": TOLERANCE,
    }
    by_name = lambda batch: dict(zip(names, batch))  # noqa: E731
    return result, {"inputs": by_name(inputs["general"]), "theirs": by_name(theirs["general"]),
                    "ours": by_name(ours["general"])}


def _row(label: str, s: dict) -> str:
    largest = f"{s['worst max']:.2e}" if "worst max" in s else "-"
    worst = f" ({s['worst picture']})" if "worst picture" in s else ""
    return (f"| {label} | {s['mean of means']:.2e} | {s['worst mean']:.2e}{worst} | {largest} "
            f"| {100 * s['worst flipped']:.4f}% |")


def markdown(r: dict, command: str) -> str:
    n = len(r["pictures"])
    verdict = "PASS" if all(s["worst mean"] <= r["tolerance (mean per picture)"] for s in r["summary"].values()) \
        else "FAIL"
    lines = [
        "# Selfie segmentation: our torch network against MediaPipe's own runtime", "",
        f"`{command}` ([JSON](selfie-parity.json), [contact sheet](selfie-parity.jpg)), {time.strftime('%Y-%m-%d')},",
        f"{r['machine']}, load {r['load']}. Original: mediapipe {r['mediapipe']} (its SelfieSegmentationCpu graph: "
        "TFLite with XNNPACK and its custom op), the very .tflite files our weights were imported from (sha256 "
        "checked). Both got the same uint8 pictures at the model's size; the original's graph scales them to [0, 1] "
        "with an identity warp and returns the raw sigmoid at that size.", "",
        f"**{verdict}**: tolerance {r['tolerance (mean per picture)']} mean absolute difference per picture, "
        f"{n} pictures (the authors' 18, scikit-image's astronaut, OpenCV's photos, Megamind and vtest frames).", "",
        "| comparison | mean of per-picture means | worst picture's mean | largest pixel difference | most pixels "
        "across 0.5 |", "| --- | ---: | ---: | ---: | ---: |",
        _row("general 256x256, torch", r["summary"]["general"]),
        _row("landscape 144x256, torch", r["summary"]["landscape"]),
        _row("general, our ONNX export in ONNX Runtime", r["onnxruntime (general)"]),
        *[_row(f"sensitivity: {k} (wrong on purpose)", s) for k, s in r["sensitivity (general)"].items()],
        *[_row(f"full resolution, ours behind {k}", s)
          for k, s in r["end to end, full resolution (general)"].items()], "",
        "Sensitivity rows: the same network with one convention changed, to show the comparison sees it. The "
        "full-resolution rows compare whole pipelines on the original pictures (MediaPipe resizes them itself; our "
        "mask is resized back bilinearly, as MediaPipe does): with MediaPipe's own resize reproduced they agree; "
        "behind cv2's bilinear (a sub-pixel shift) or INTER_AREA (antialiased) the input differs by design, and so do "
        "the masks, most where the model is unsure (non-person objects such as the orange in fruits).", "",
        "Seen in the contact sheet: our masks and the original's cannot be told apart. What the model does (both "
        "runtimes alike): it keeps the people at head-and-shoulders and half-body framing whole (the astronaut, "
        "Megamind's man, Messi), misses small full-body pedestrians (vtest), cuts the woman at Megamind's left "
        "edge, and marks large non-person objects as person (the horse beside the girl, the orange in fruits: "
        "the share above 0.5 below is no person detector).", "",
        "Timings, median of 30 after a warm-up, one 256x256 picture (the load is other sessions' work on the "
        "same 2 cores: the 2-thread figure suffers most from it):", "",
        *[f"- {k}: {v:.2f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in r["timings"].items()], "",
        "| picture | size | share above 0.5 (original) | general mean | general max | landscape mean | landscape max |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {p['name']} | {p['size']} | {100 * p['share above 0.5 (original, general)']:.1f}% "
          f"| {p['general mean']:.1e} | {p['general max']:.1e} | {p['landscape mean']:.1e} "
          f"| {p['landscape max']:.1e} |" for p in r["pictures"]],
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mediapipe-python", default="/work/venvs/mediapipe/bin/python",
                        help="the Python of a virtual environment with mediapipe==0.10.21")
    parser.add_argument("--save-test-data", action="store_true", help="write tests/data/selfie/*.png")
    args = parser.parse_args()
    result, masks = measure(args.mediapipe_python)
    if args.save_test_data:
        result["test data"] = save_test_data(masks["inputs"], masks["theirs"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "selfie-parity.json").write_text(json.dumps(result, indent=1) + "\n")
    command = "python benchmarks/selfie_parity.py" + (" --save-test-data" if args.save_test_data else "")
    (RESULTS / "selfie-parity.md").write_text(markdown(result, command))
    contact_sheet(masks["inputs"], masks["theirs"], masks["ours"], RESULTS / "selfie-parity.jpg")
    print(json.dumps({"summary": result["summary"], "timings": result["timings"]}, indent=1))


if __name__ == "__main__":
    main()
