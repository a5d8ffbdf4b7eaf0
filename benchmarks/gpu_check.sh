#!/usr/bin/env bash
# The GPU verification kit: one command, run from the repository root on a bare GPU machine, well under ten minutes.
#
#   bash benchmarks/gpu_wheels.sh          # HERE, once: the wheels the GPU machine lacks (PyAV, pyvirtualcam) into
#                                          # .whl/ and the test clip into .gpu-media/ (both ignored by git)
#   bash benchmarks/gpu_check.sh           # THERE (with .whl and .gpu-media carried): results land in $OUT
#   bash benchmarks/gpu_check.sh --dry-run # on a CPU-only machine: every step on the CPU, small, to test the kit
#
# Steps (each logged; a failing step is recorded and the next one still runs, so one failure loses nothing else):
#   1. the machine: nvidia-smi, torch/CUDA versions
#   2. the gpu-marked tests and the pipeline tests on --backend cuda (U2LIVE_TEST_BACKEND)
#   3. parity: cuda fp16/fp32 masks vs the cpu backend on the 18 reference images, GPU vs CPU composite,
#      FP32 + CUDA graph (the GTX-class policy) vs FP16, torch.compile beside the CUDA graph
#   4. u2live bench, model only: cuda fp16 and fp32 x batch 1, 8, 32 x size 320, 512, beside the authors' FP32
#      eager model on the same GPU; Markdown table and plots by benchmarks/report.py
#   5. u2live video end to end on Megamind.avi at its own size and scaled to 1080p, with the per-stage breakdown
#      and peak GPU memory
# Results ($OUT, at most 8 files as the device tool returns them): gpu-check.log, parity.json, bench.json,
# bench.md, bench-fps.png, bench-latency.png, e2e.json, e2e.md. Commit them under benchmarks/results/gpu-<name>/.
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=""
[ "${1:-}" = "--dry-run" ] && dry_run=1
OUT=${OUT:-benchmarks/results/gpu-check-local}
mkdir -p "$OUT"
log="$OUT/gpu-check.log"
: >"$log"
export PYTHONUNBUFFERED=1

if [ -z "$dry_run" ] && ls .whl/*.whl >/dev/null 2>&1; then  # the GPU machine's wheels (Python 3.12)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/u2live-site \
    .whl/*.whl >>"$log" 2>&1 || { echo "gpu_check: the carried wheels did not install (see $log)"; exit 1; }
  export PYTHONPATH=/tmp/u2live-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

clip=""
for candidate in .gpu-media/Megamind.avi .cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi \
                 /usr/share/doc/opencv-doc/examples/data/Megamind.avi; do
  [ -f "$candidate" ] && { clip=$candidate; break; }
done

failed=()
step() {  # step NAME COMMAND...: run it, log it, remember a failure
  local name=$1; shift
  local started=$SECONDS
  echo "== $name: $*" | tee -a "$log"
  "$@" >>"$log" 2>&1
  local code=$?
  echo "== $name: exit $code after $((SECONDS - started)) s" | tee -a "$log"
  [ $code -eq 0 ] || failed+=("$name")
}

if [ -n "$dry_run" ]; then
  # the same steps on the CPU, as small as still exercises them: checks the kit, measures nothing about a GPU
  backend=cpu; precisions=fp32; batches=1; sizes=192; frames=4; e2e_frames=8; heights=0,240
  parity=(--device cpu --limit 2); tests=(-m "not gpu and not tensorrt" tests/test_pipeline.py -k "not thread")
else
  backend=cuda; precisions=fp16,fp32; batches=1,8,32; sizes=320,512; frames=96; e2e_frames=240; heights=0,1080
  parity=(--device cuda --compile); tests=(tests/test_gpu.py tests/test_pipeline.py)
fi

step machine bash -c 'nvidia-smi 2>&1 || echo "no nvidia-smi"; python3 -c "import sys, torch; print(sys.version);
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available());
print(torch.cuda.get_device_name() if torch.cuda.is_available() else \"no GPU\")"'
step tests env U2LIVE_TEST_BACKEND=$backend python3 -m pytest -q -rs -p no:cacheprovider "${tests[@]}"
step parity python3 benchmarks/gpu_parity.py --json "$OUT/parity.json" "${parity[@]}"
step bench python3 -m u2live bench --backend $backend --precision $precisions --batch $batches --size $sizes \
  --only model --frames $frames ${clip:+--input "$clip"} --note "gpu_check${dry_run:+ dry run}" \
  --json "$OUT/bench.json"
step report python3 benchmarks/report.py "$OUT/bench.json" --out-dir "$OUT"
if [ -n "$clip" ]; then
  step e2e python3 benchmarks/gpu_e2e.py "$clip" --out-dir "$OUT" --backend $backend --frames $e2e_frames \
    --heights $heights
else
  echo "== e2e: skipped, no Megamind.avi (run benchmarks/gpu_wheels.sh and carry .gpu-media)" | tee -a "$log"
  failed+=(e2e)
fi

if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu_check: every step passed; results in $OUT" | tee -a "$log"
else
  echo "gpu_check: failed steps: ${failed[*]} (see $log); results in $OUT" | tee -a "$log"
  exit 1
fi
