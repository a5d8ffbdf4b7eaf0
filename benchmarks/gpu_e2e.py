"""End to end on a real clip, at its own size and scaled to 1080p, for ``benchmarks/gpu_check.sh``.

    python benchmarks/gpu_e2e.py CLIP --out-dir OUT [--backend cuda] [--frames 960] [--heights 0,1080]

For each height (0: the clip's own) it writes the clip at that height with PyAV (H.264, every frame; the clip is
played again from its start until ``--frames`` frames are written, so a fast pipeline runs long enough to measure),
then
- ``u2live bench --only offline`` on it: pipeline FPS with the time per stage, so the stage that limits the run
  is named (the decoder and the encoder run in their own threads: the slowest stage bounds the FPS);
- ``u2live video`` on it at its defaults (``--model auto``) and with ``--model u2netp``: the pipeline's FPS from its
  summary line, and the whole process timed (start-up, model load, audio and all): wall seconds and FPS.

Writes ``OUT/e2e.json`` and ``OUT/e2e.md``; the clips and outputs go to a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent
# the decoder and encoder threads overlap with the main thread's model and rendering: the largest bounds the run
OWN_THREAD = ("decode", "encode")
MODELS = ("auto", "u2netp")  # u2live video's default, and U2-Net† alone


def scaled_clip(clip: Path, height: int, out: Path, frames: int) -> Path:
    """``frames`` frames of ``clip`` (from its start again where it ends) at ``height`` (even width, aspect kept),
    H.264; 0 keeps its size."""
    with av.open(str(out), "w") as sink:
        stream, written = None, 0
        while written < frames:
            with av.open(str(clip)) as source:
                video = source.streams.video[0]
                if stream is None:
                    height = height or video.height
                    width = round(video.width * height / video.height / 2) * 2
                    stream = sink.add_stream("libx264", rate=video.average_rate or 24,
                                             options={"preset": "veryfast", "crf": "18"})
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                    stream.codec_context.thread_type = "AUTO"
                for frame in source.decode(video=0):
                    if written == frames:
                        break
                    picture = frame.reformat(width=width, height=height, format="yuv420p")
                    picture.pts = None
                    sink.mux(stream.encode(picture))
                    written += 1
        sink.mux(stream.encode(None))
    return out


def run(args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "u2live", *args], capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - started, done


def limiting_stage(stage_ms: dict) -> str:
    """The stage that bounds throughput: decode/encode run beside the main thread, the rest add up on it."""
    main_thread = sum(v for k, v in stage_ms.items() if k not in OWN_THREAD)
    candidates = {k: v for k, v in stage_ms.items() if k in OWN_THREAD}
    candidates["main thread (" + "+".join(k for k in stage_ms if k not in OWN_THREAD) + ")"] = main_thread
    name = max(candidates, key=candidates.get)
    if name.startswith("main thread"):
        inner = {k: v for k, v in stage_ms.items() if k not in OWN_THREAD}
        name += f", mostly {max(inner, key=inner.get)}"
    return name


def measure(clip: Path, out_dir: Path, backend: str, frames: int, height: int, env: dict, batch: int) -> dict:
    scaled = scaled_clip(clip, height, out_dir / f"clip-{height or 'native'}.mp4", frames)
    bench_json = out_dir / f"bench-{height or 'native'}.json"
    _, bench = run(["bench", "--input", str(scaled), "--backend", backend, "--only", "offline", "--no-reference",
                    "--batch", str(batch), "--frames", str(frames), "--json", str(bench_json)], env)
    with av.open(str(scaled)) as probe:
        size = probe.streams.video[0]
        row = {"width": size.width, "height": size.height, "clip": scaled.name, "frames": frames}
    if bench.returncode == 0:
        result = json.loads(bench_json.read_text())["results"][0]
        row.update(bench_fps=result.get("fps"),
                   stage_ms=result.get("stage_ms"), limited_by=limiting_stage(result.get("stage_ms") or {}),
                   backend=result.get("describe"), peak_device_mb=result.get("peak_device_mb"))
    else:
        row["bench_error"] = bench.stderr.strip().splitlines()[-1:]
    for model in MODELS:
        wall, video = run(["video", str(scaled), "-o", str(out_dir / f"out-{height or 'native'}-{model}.mp4"),
                           "--backend", backend, "--model", model], env)
        row[model] = {"wall_s": round(wall, 2), "whole_process_fps": round(frames / wall, 2),
                      "pipeline_fps": summary_fps(video.stderr), "exit": video.returncode}
        if video.returncode:
            row[model]["error"] = video.stderr.strip().splitlines()[-1:]
    return row


def summary_fps(stderr: str) -> float | None:
    """The FPS of the run's summary line (``u2live: N frames in T s: F FPS, ...``): the pipeline's own rate."""
    found = re.findall(r"^u2live: \d+ frames in [\d.]+ s: ([\d.]+) FPS", stderr, flags=re.MULTILINE)
    return float(found[-1]) if found else None


def markdown(rows: list[dict], backend: str) -> str:
    lines = [f"# u2live video end to end, --backend {backend}", "",
             ("| clip | frames | bench pipeline FPS (u2netp, --batch) | u2live video FPS: pipeline / whole process, auto | "
              "same, --model u2netp | limited by (bench) | stage ms (bench) |"),
             "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in (row.get("stage_ms") or {}).items())
        videos = [f"{row[m]['pipeline_fps']} / {row[m]['whole_process_fps']}" for m in MODELS]
        lines.append(f"| {row['width']}x{row['height']} | {row['frames']} | {row.get('bench_fps', '–')} | "
                     f"{' | '.join(videos)} | {row.get('limited_by', row.get('bench_error'))} | {stages} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--frames", type=int, default=960)
    parser.add_argument("--heights", default="0,1080", help="Comma list; 0 is the clip's own size.")
    parser.add_argument("--batch", type=int, default=8, help="bench's batch: u2live video's own on a GPU by default")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="u2live-e2e-"))  # clips and outputs stay out of OUT (only results return)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    rows = [measure(args.clip, work, args.backend, args.frames, int(h), env, args.batch)
            for h in args.heights.split(",")]
    (args.out_dir / "e2e.json").write_text(json.dumps({"backend": args.backend, "rows": rows}, indent=2) + "\n")
    (args.out_dir / "e2e.md").write_text(markdown(rows, args.backend))
    print(markdown(rows, args.backend))
    return 0 if all(row[m]["exit"] == 0 and "bench_error" not in row for row in rows for m in MODELS) else 1


if __name__ == "__main__":
    sys.exit(main())
