#!/usr/bin/env bash
# Real test media: Debian's opencv-doc clips (Megamind.avi has an AC-3 audio track), unpacked into
# .cache/opencv-doc, not installed. Needs apt-get and dpkg (Debian/Ubuntu); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

media=.cache/opencv-doc/usr/share/doc/opencv-doc/examples/data
if [ ! -f "$media/Megamind.avi" ]; then
  [ -n "${U2LIVE_APT_UPDATED:-}" ] || apt-get update -q >/dev/null
  mkdir -p .cache/deb
  (cd .cache/deb && apt-get download -q opencv-doc 2>/dev/null)
  dpkg -x .cache/deb/opencv-doc_*.deb .cache/opencv-doc
fi
echo "$PWD/$media"  # absolute: usable from any folder
