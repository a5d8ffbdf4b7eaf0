#!/usr/bin/env sh
# The README's commands as CI runs them: the fenced block right after each "<!-- ci: NAME -->" marker, verbatim, for
# each NAME given, in that order. CI runs what a reader copies, so a quick start that breaks fails CI. POSIX sh and
# awk only: it runs before Python is installed.
#     sh .ci/readme_blocks.sh setup main tests
set -eu
readme="$(dirname "$0")/../README.md"
for name in "$@"; do
  count=$(grep -c "^<!-- ci: $name -->" "$readme" || true)
  if [ "$count" != 1 ]; then
    echo "README.md: expected one block marked ci: $name, found $count" >&2
    exit 1
  fi
  awk -v marker="<!-- ci: $name -->" '
    state == 0 && $0 == marker { state = 1; next }
    state == 1 { if ($0 !~ /^```/) { print "README.md: no fenced block right after " marker > "/dev/stderr"; exit 2 }
                 state = 2; next }
    state == 2 && /^```/ { state = 3; exit }
    state == 2 { print }
    END { if (state != 3) { if (state == 2) print "README.md: the block after " marker " is never closed" > "/dev/stderr"
                            exit 2 } }
  ' "$readme"
done
