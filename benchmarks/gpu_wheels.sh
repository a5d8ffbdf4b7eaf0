#!/usr/bin/env bash
# Run HERE (a machine with PyPI) before benchmarks/gpu_check.sh runs on the GPU machine, which has torch, numpy,
# OpenCV, ONNX Runtime, click, tqdm, Pillow and pytest, but no PyAV, no pyvirtualcam and no network.
#   .whl/        the missing wheels, for the GPU machine's Python (3.12, manylinux x86_64), installed there with
#                pip --no-index --target by gpu_check.sh
#   .gpu-media/  Megamind.avi (Debian's opencv-doc clip) for the end-to-end step
# Both folders are ignored by git; name them in the device tool's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
python_version=${GPU_PYTHON:-3.12}
mkdir -p .whl .gpu-media
for wheel in "av==${AV_VERSION:-18.1.0}" "pyvirtualcam==${PYVIRTUALCAM_VERSION:-0.15.0}"; do  # pinned: the versions CI tests
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$wheel"
done
media=$(bash scripts/fetch_media.sh)
cp "$media/Megamind.avi" .gpu-media/
du -sh .whl .gpu-media
