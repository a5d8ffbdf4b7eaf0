#!/usr/bin/env bash
# Real media for the examples and tests: Debian's opencv-doc clips and photos (Megamind.avi has an AC-3 audio track),
# unpacked into .cache/opencv-doc, not installed. Prints only the folder's absolute path on stdout, so that
# MEDIA=$(bash scripts/fetch_media.sh) works; apt's messages go to stderr. Needs apt-get and dpkg (Debian, Ubuntu),
# not root: where the system's package lists do not know opencv-doc, they are fetched into .cache/apt, a folder of
# our own. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

media=.cache/opencv-doc/usr/share/doc/opencv-doc/examples/data
if [ ! -f "$media/Megamind.avi" ]; then
  mkdir -p .cache/deb
  apt=(apt-get)
  if ! apt-cache show opencv-doc >/dev/null 2>&1; then
    # the system's lists are missing or stale: our own copy, readable and writable without root
    state="$PWD/.cache/apt"
    mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
    apt=(apt-get -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o Debug::NoLocking=1)
    "${apt[@]}" -q update >&2
  fi
  rm -f .cache/deb/opencv-doc_*.deb
  (cd .cache/deb && "${apt[@]}" -q download opencv-doc >&2)
  dpkg -x .cache/deb/opencv-doc_*.deb .cache/opencv-doc
fi
echo "$PWD/$media"  # absolute: usable from any folder
