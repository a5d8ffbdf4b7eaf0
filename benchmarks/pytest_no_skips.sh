#!/usr/bin/env bash
# pytest that fails when a test skips for any reason but TensorRT's absence (TensorRT cannot be obtained where the
# kit runs): a kit that exists to run the GPU and pipeline tests must not pass without them.
#   bash benchmarks/pytest_no_skips.sh PYTEST_ARGS...
set -uo pipefail
report=$(mktemp)
python3 -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 | tee "$report"
code=${PIPESTATUS[0]}
skips=$(grep '^SKIPPED' "$report" | grep -vi 'tensorrt')
rm -f "$report"
if [ -n "$skips" ]; then
  echo "unexpected skips (each is a check this kit exists to run):"
  echo "$skips"
  exit 1
fi
exit "$code"
