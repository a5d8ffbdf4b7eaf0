"""The original runtime's face detections and raw network outputs, for benchmarks/face_parity.py: run by the Python
of a SEPARATE virtual environment that has ``mediapipe==0.10.21`` (it pulls opencv-contrib and pins protobuf; never
install it beside u2live):

    python -m venv /work/venvs/mediapipe && /work/venvs/mediapipe/bin/pip install mediapipe==0.10.21
    /work/venvs/mediapipe/bin/python benchmarks/face_reference.py IN.npz OUT.npz

IN.npz holds uint8 RGB pictures of any size under ``picture_<i>``. For each picture and each model (``short``:
face_detection_short_range.tflite at 128x128, ``full``: face_detection_full_range_sparse.tflite at 192x192):

- ``<model>_input_<i>``, ``<model>_regressors_<i>``, ``<model>_scores_<i>``: the input tensor MediaPipe's own
  ImageToTensorCalculator makes of the picture (options as in face_detection.pbtxt: keep_aspect_ratio, BORDER_ZERO,
  range [-1, 1]) and the model's two raw outputs on it, from InferenceCalculator (TFLite with XNNPACK, as the
  FaceDetection*Cpu graphs run it), read back through TensorsToFloatsCalculator;
- ``<model>_detections_<i>``: [K, 5] (xmin, ymin, width, height, score), relative to the picture, from the
  solution API ``mediapipe.solutions.face_detection.FaceDetection(model_selection=...)``, i.e. the whole published
  graph (anchors, decoding, weighted NMS, projection back through the letterbox). Its min_detection_confidence does
  not reach the graphs in 0.10.21 (0.1 to 0.9 give the same detections): each keeps its own min_score_thresh,
  0.5 (short) and 0.6 (full).

``info`` (JSON): MediaPipe's version, the sha256 of the .tflite files and seconds per ``process`` call of the
solution API.
"""
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import mediapipe as mp
from mediapipe.python.solutions import face_detection

FOLDER = Path(mp.__file__).parent / "modules" / "face_detection"
MODELS = {"short": ("face_detection_short_range.tflite", 128, 0),
          "full": ("face_detection_full_range_sparse.tflite", 192, 1)}  # file, tensor side, model_selection

RAW_GRAPH = """
input_stream: "image"
output_stream: "input"
output_stream: "regressors"
output_stream: "scores"
node { calculator: "ToImageCalculator" input_stream: "IMAGE:image" output_stream: "IMAGE:multi_backend_image" }
node {
  calculator: "ImageToTensorCalculator"
  input_stream: "IMAGE:multi_backend_image"
  output_stream: "TENSORS:input_tensors"
  options { [mediapipe.ImageToTensorCalculatorOptions.ext] {
    output_tensor_width: SIDE output_tensor_height: SIDE keep_aspect_ratio: true
    output_tensor_float_range { min: -1.0 max: 1.0 } border_mode: BORDER_ZERO } }
}
node {
  calculator: "InferenceCalculator"
  input_stream: "TENSORS:input_tensors"
  output_stream: "TENSORS:detection_tensors"
  options { [mediapipe.InferenceCalculatorOptions.ext] { model_path: "MODEL" delegate { xnnpack {} } } }
}
node {
  calculator: "SplitTensorVectorCalculator"
  input_stream: "detection_tensors"
  output_stream: "regressor_tensors"
  output_stream: "score_tensors"
  options { [mediapipe.SplitVectorCalculatorOptions.ext] { ranges { begin: 0 end: 1 } ranges { begin: 1 end: 2 } } }
}
node { calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:input_tensors" output_stream: "FLOATS:input" }
node {
  calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:regressor_tensors" output_stream: "FLOATS:regressors"
}
node { calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:score_tensors" output_stream: "FLOATS:scores" }
"""


def raw_outputs(model: str, pictures: list) -> dict:
    """The input tensor and the two raw outputs of ``model`` for each picture, through MediaPipe's calculators."""
    name, side, _ = MODELS[model]
    config = RAW_GRAPH.replace("SIDE", str(side)).replace("MODEL", str(FOLDER / name))
    graph = mp.CalculatorGraph(graph_config=config)
    found = {"input": [], "regressors": [], "scores": []}
    for stream, values in found.items():
        graph.observe_output_stream(stream, lambda _, packet, v=values: v.append(
            np.array(mp.packet_getter.get_float_list(packet), np.float32)))
    graph.start_run()
    for index, picture in enumerate(pictures):
        packet = mp.packet_creator.create_image_frame(image_format=mp.ImageFormat.SRGB,
                                                      data=np.ascontiguousarray(picture))
        graph.add_packet_to_input_stream("image", packet.at(index))
    graph.close()
    shapes = {"input": (side, side, 3), "regressors": (-1, 16), "scores": (-1,)}
    return {stream: [v.reshape(shapes[stream]) for v in values] for stream, values in found.items()}


def detections(model: str, pictures: list) -> tuple[list, list]:
    """[K, 5] (xmin, ymin, width, height, score) per picture from the solution API, and seconds per call."""
    out, seconds = [], []
    with face_detection.FaceDetection(model_selection=MODELS[model][2]) as fd:
        fd.process(np.zeros((128, 128, 3), np.uint8))  # the first call builds the graph: not timed
        for picture in pictures:
            start = time.perf_counter()
            result = fd.process(np.ascontiguousarray(picture))
            seconds.append(time.perf_counter() - start)
            rows = [(d.location_data.relative_bounding_box.xmin, d.location_data.relative_bounding_box.ymin,
                     d.location_data.relative_bounding_box.width, d.location_data.relative_bounding_box.height,
                     d.score[0]) for d in (result.detections or [])]
            out.append(np.array(rows, np.float64).reshape(-1, 5))
    return out, seconds


def main(source: str, target: str) -> None:
    with np.load(source) as data:
        keys = sorted((k for k in data.files if k.startswith("picture_")), key=lambda k: int(k[8:]))
        pictures = [data[k] for k in keys]
    result, seconds = {}, {}
    for model in MODELS:
        raw = raw_outputs(model, pictures)
        found, seconds[model] = detections(model, pictures)
        for index in range(len(pictures)):
            for stream in ("input", "regressors", "scores"):
                result[f"{model}_{stream}_{index}"] = raw[stream][index]
            result[f"{model}_detections_{index}"] = found[index]
    hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(FOLDER.glob("*.tflite"))}
    info = {"mediapipe": mp.__version__, "models": hashes, "seconds": seconds}
    np.savez(target, info=json.dumps(info), **result)


if __name__ == "__main__":
    main(*sys.argv[1:3])
