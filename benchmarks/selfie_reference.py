"""The original runtime's masks, for benchmarks/selfie_parity.py: run by the Python of a SEPARATE virtual environment
that has ``mediapipe==0.10.21`` (it pulls opencv-contrib and pins protobuf; never install it beside u2live):

    python -m venv /work/venvs/mediapipe && /work/venvs/mediapipe/bin/pip install mediapipe==0.10.21
    /work/venvs/mediapipe/bin/python benchmarks/selfie_reference.py IN.npz OUT.npz

IN.npz holds uint8 RGB pictures: ``general`` [N, 256, 256, 3], ``landscape`` [N, 144, 256, 3] and any number of
``full_<i>`` [H, W, 3]. MediaPipe's own graph (SelfieSegmentationCpu: ImageToTensorCalculator to [0, 1], the
.tflite model through TFLite with XNNPACK and MediaPipe's custom op, TensorsToSegmentationCalculator with no
activation) segments each; a picture already at the model's size passes the graph's resizes unchanged (an identity
warp in, a same-size resize out), so those masks are the model's raw sigmoid outputs. OUT.npz gets the masks under
the same keys, plus ``info`` (JSON): MediaPipe's version, the sha256 of the .tflite files it ran, and seconds per
picture of ``process``.
"""
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import mediapipe
from mediapipe.python.solutions import selfie_segmentation

MODEL_SELECTION = {"general": 0, "landscape": 1}


def masks(segmenter, pictures) -> tuple[list, list]:
    out, seconds = [], []
    for picture in pictures:
        start = time.perf_counter()
        out.append(segmenter.process(np.ascontiguousarray(picture)).segmentation_mask.copy())
        seconds.append(time.perf_counter() - start)
    return out, seconds


def model_hashes() -> dict:
    folder = Path(mediapipe.__file__).parent / "modules" / "selfie_segmentation"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tflite"))}


def main(source: str, target: str) -> None:
    pictures = np.load(source)
    result, seconds = {}, {}
    full = sorted((k for k in pictures.files if k.startswith("full_")), key=lambda k: int(k[5:]))
    for variant, selection in MODEL_SELECTION.items():
        with selfie_segmentation.SelfieSegmentation(model_selection=selection) as segmenter:
            segmenter.process(np.zeros((256, 256, 3), np.uint8))  # the first call builds the graph: not timed
            if variant in pictures.files:
                found, seconds[variant] = masks(segmenter, pictures[variant])
                result[variant] = np.stack(found)
            if variant == "general" and full:
                found, seconds["full"] = masks(segmenter, [pictures[k] for k in full])
                result.update(zip(full, found))
    info = {"mediapipe": mediapipe.__version__, "models": model_hashes(), "seconds": seconds}
    np.savez(target, info=json.dumps(info), **result)


if __name__ == "__main__":
    main(*sys.argv[1:3])
