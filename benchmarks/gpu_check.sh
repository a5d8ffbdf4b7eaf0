#!/usr/bin/env bash
# The GPU verification kit: one command, run from the repository root on a bare GPU machine, within 8 minutes.
#
#   bash benchmarks/gpu_wheels.sh          # HERE, once: the wheels the GPU machine lacks (PyAV, pyvirtualcam) into
#                                          # .whl/ and the test clip into .gpu-media/ (both ignored by git)
#   bash benchmarks/gpu_check.sh           # THERE (with .whl and .gpu-media carried): results land in $OUT
#   bash benchmarks/gpu_check.sh --dry-run # on a CPU-only machine: every step on the CPU, small, to test the kit
#
# Steps, each under its own time limit and all inside KIT_DEADLINE (benchmarks/gpu_kit_steps.sh); a failing or
# overrunning step is recorded and the next one still runs, so one failure loses nothing else:
#   1. the machine: nvidia-smi, torch/CUDA versions, the build's GPU architectures
#   2. the gpu-marked tests and the pipeline tests on --backend cuda; any skip but TensorRT's fails the step
#   3. parity: cuda fp16 / true fp32 masks vs the cpu backend on the 18 reference images, GPU vs CPU composite,
#      FP32 + CUDA graph (the GTX-class policy) vs FP16 -- written to parity.json before anything slow runs
#   4. u2live bench, model only: cuda fp16 and fp32 x batch 1, 8, 32 x size 320, 512, beside the authors' FP32
#      eager model on the same GPU; Markdown table by benchmarks/report.py (plots are drawn later, from bench.json)
#      and the person model (selfie, 256) at the first precision, model only
#   5. u2live video end to end on Megamind.avi at its own size and scaled to 1080p, with the per-stage breakdown;
#      then the offline loop alone at 720p in variants (batch, OpenCV threads, smoothing off) with a profile
#   6. last, as it may not finish: torch.compile beside the CUDA graph, added to parity.json (KIT_NO_COMPILE=1 skips it)
# Results ($OUT, as the device tool returns them): gpu-check.log, parity.json, bench.json, bench.md,
# bench-person.json, e2e.json, e2e.md, gpu-profile.json, gpu-profile.txt. Commit them under
# benchmarks/results/gpu-<name>/.
set -uo pipefail
cd "$(dirname "$0")/.."

dry_run=""
[ "${1:-}" = "--dry-run" ] && dry_run=1
OUT=${OUT:-benchmarks/results/gpu-check-local}
mkdir -p "$OUT"
log="$OUT/gpu-check.log"
: >"$log"
export PYTHONUNBUFFERED=1
source benchmarks/gpu_kit_steps.sh

# The machine's missing wheels, installed apart from its own site-packages (also in the dry run, so the line is tested).
wheels=${KIT_WHEELS:-.whl}
if ls "$wheels"/*.whl >/dev/null 2>&1; then
  site=$(mktemp -d /tmp/u2live-site.XXXXXX)
  if python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
      "$wheels"/*.whl >>"$log" 2>&1; then
    echo "== wheels: installed $(ls "$wheels"/*.whl | xargs -n1 basename | tr '\n' ' ')into $site" | tee -a "$log"
    export PYTHONPATH=$site
  else
    echo "gpu_check: the carried wheels did not install (see $log)"; exit 1
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# The test clip: the tests and the end-to-end step read it through U2LIVE_MEDIA.
clip=""
for candidate in ${U2LIVE_MEDIA:+"$U2LIVE_MEDIA/Megamind.avi"} .gpu-media/Megamind.avi \
                 .cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi \
                 /usr/share/doc/opencv-doc/examples/data/Megamind.avi; do
  [ -f "$candidate" ] && { clip=$candidate; break; }
done
if [ -n "$clip" ]; then
  export U2LIVE_MEDIA
  U2LIVE_MEDIA=$(cd "$(dirname "$clip")" && pwd)
  echo "== media: $U2LIVE_MEDIA" | tee -a "$log"
else
  echo "== media: no Megamind.avi (run benchmarks/gpu_wheels.sh and carry .gpu-media): tests and e2e will fail" \
    | tee -a "$log"
fi

if [ -n "$dry_run" ]; then
  # the same steps on the CPU, as small as still exercises them: checks the kit, measures nothing about a GPU
  backend=cpu; precisions=fp32; batches=1; sizes=192; frames=4; e2e_frames=8; heights=0,240
  profile=(--frames 8 --size 160 --height 240); e2e_batch=1
  parity=(--device cpu --limit 2); tests=(-m "not gpu and not tensorrt" tests/test_pipeline.py -k "not thread")
else
  backend=cuda; precisions=fp16,fp32; batches=1,8,32; sizes=320,512; frames=96; e2e_frames=720; heights=0,1080
  profile=(--frames 480); e2e_batch=8
  parity=(--device cuda); tests=(tests/test_gpu.py tests/test_pipeline.py)
fi

step machine 30 bash -c 'nvidia-smi 2>&1 || echo "no nvidia-smi"; nproc; python3 -c "import sys, torch;
print(sys.version); print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda,
\"available\", torch.cuda.is_available(), \"archs\", torch.cuda.get_arch_list());
print(torch.cuda.get_device_name() if torch.cuda.is_available() else \"no GPU\")"'
step tests 150 env U2LIVE_TEST_BACKEND=$backend bash benchmarks/pytest_no_skips.sh "${tests[@]}"
step parity 90 python3 benchmarks/gpu_parity.py --json "$OUT/parity.json" "${parity[@]}"
step bench 100 python3 -m u2live bench --backend $backend --precision $precisions --batch $batches --size $sizes \
  --only model --frames $frames ${clip:+--input "$clip"} --note "gpu_check${dry_run:+ dry run}" \
  --json "$OUT/bench.json"
step bench-person 60 python3 -m u2live bench --backend $backend --model selfie --precision ${precisions%%,*} \
  --batch $batches --size 256 --only model --frames $frames --no-reference ${clip:+--input "$clip"} \
  --note "gpu_check, person model${dry_run:+, dry run}" --json "$OUT/bench-person.json"
plots=$(mktemp -d)
step report 30 bash -c "python3 benchmarks/report.py '$OUT/bench.json' --out-dir '$plots' && cp '$plots/bench.md' '$OUT/'"
if [ -n "$clip" ]; then
  step e2e 200 python3 benchmarks/gpu_e2e.py "$clip" --out-dir "$OUT" --backend $backend --frames $e2e_frames \
    --heights $heights --batch $e2e_batch
  step profile 90 python3 benchmarks/gpu_profile.py "$clip" --out-dir "$OUT" --backend $backend "${profile[@]}"
else
  echo "== e2e and profile: not run, no Megamind.avi" | tee -a "$log"
  failed+=(e2e profile)
fi
[ -n "$dry_run" ] || [ -n "${KIT_NO_COMPILE:-}" ] || step compile 90 python3 benchmarks/gpu_parity.py --json "$OUT/parity.json" --compile-only

if [ ${#failed[@]} -eq 0 ]; then
  echo "gpu_check: every step passed in ${SECONDS} s; results in $OUT" | tee -a "$log"
else
  echo "gpu_check: failed steps: ${failed[*]} after ${SECONDS} s (see $log); results in $OUT" | tee -a "$log"
  exit 1
fi
