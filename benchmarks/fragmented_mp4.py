"""Cost of crash-safe (fragmented) MP4 against a plain MP4: file size and encode time on Megamind.avi.

The file sink writes the same decoded frames (and the AC-3 audio) both ways, interleaved (plain, fragmented,
plain, ...), so machine load hits both alike. Usage: python benchmarks/fragmented_mp4.py [CLIP] [ROUNDS]
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from u2live.sinks import FileSink
from u2live.sources import open_source

CLIP = Path(__file__).resolve().parent.parent / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi"


def encode(frames, info, out: Path, fragmented: bool) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: the encoder's threads included, other users' load not)."""
    started, cpu = time.perf_counter(), _cpu()
    with FileSink(out, info, fragmented=fragmented) as sink:
        for frame in frames:
            sink.write(frame)
    return time.perf_counter() - started, _cpu() - cpu


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    clip = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else CLIP
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with open_source(str(clip), live=False) as source:
        info, frames = source.info, list(source)
    times, cpu, sizes = {"plain": [], "fragmented": []}, {"plain": [], "fragmented": []}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(rounds):
            for kind in ("plain", "fragmented"):
                out = Path(scratch) / f"{kind}.mp4"
                wall, used = encode(frames, info, out, kind == "fragmented")
                times[kind].append(wall)
                cpu[kind].append(used)
                sizes[kind] = out.stat().st_size
    best = {kind: min(values) for kind, values in times.items()}
    best_cpu = {kind: min(values) for kind, values in cpu.items()}
    result = {"clip": clip.name, "frames": len(frames), "rounds": rounds, "loadavg": os.getloadavg(),
              "seconds": times, "best_seconds": best, "cpu_seconds": cpu, "best_cpu_seconds": best_cpu,
              "cpu_ratio": best_cpu["fragmented"] / best_cpu["plain"], "bytes": sizes,
              "size_ratio": sizes["fragmented"] / sizes["plain"], "time_ratio": best["fragmented"] / best["plain"]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
