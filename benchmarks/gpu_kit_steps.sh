# Sourced by benchmarks/gpu_check.sh (and by its test): run each step under a time limit, log it, remember failures.
# A step past its limit is interrupted (SIGINT, then SIGKILL 10 s later) and recorded as failed; the next step still
# runs, and the whole kit stays inside KIT_DEADLINE (seconds since the kit started).

KIT_DEADLINE=${KIT_DEADLINE:-480}
failed=()

step() {  # step NAME LIMIT_SECONDS COMMAND...: run it under min(LIMIT, time left), log it, remember a failure
  local name=$1 limit=$2; shift 2
  local left=$((KIT_DEADLINE - SECONDS))
  if [ "$left" -le 5 ]; then
    echo "== $name: not run, the kit's ${KIT_DEADLINE} s are spent" | tee -a "$log"
    failed+=("$name"); return
  fi
  [ "$limit" -le "$left" ] || limit=$left
  local started=$SECONDS
  echo "== $name (limit ${limit} s): $*" | tee -a "$log"
  timeout --signal=INT --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  local code=$?
  if [ $code -eq 124 ] || [ $code -eq 137 ]; then
    echo "== $name: stopped at its ${limit} s limit" | tee -a "$log"
  fi
  echo "== $name: exit $code after $((SECONDS - started)) s" | tee -a "$log"
  [ $code -eq 0 ] || failed+=("$name")
}
