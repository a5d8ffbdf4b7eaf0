"""What ``--model auto``'s search for standing people (``u2live/walkers.py``) costs and gives, against a checkout of
the code before it, side by side in one run on this CPU.

    git worktree add /tmp/u2live-before <commit before the search>
    python benchmarks/walkers_speed.py --before /tmp/u2live-before [--rounds 2] [--frames 240]

``u2live video`` at its defaults (``--model auto``, blurred background) as a whole process, per checkout, on three
clips of opencv-doc: vtest.avi (people walking, 768x576, no face big enough to find), tree.avi (nobody: every look
searches and finds no one) and Megamind.avi (faces: no search at all). The checkouts alternate round by round so
both see the same load, kept beside each row with the machine read from the machine. Each run's ``--model auto``
lines say which answer it chose; frames of both outputs are kept for looking (``--frames-at``).

Results: ``benchmarks/results/walkers-speed.{json,md}`` and ``walkers-speed.jpg`` (vtest frames, before | after).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from u2live.bench.machine import describe, machine_info

DATA = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
RESULTS = REPO / "benchmarks" / "results"
CLIPS = ("vtest.avi", "tree.avi", "Megamind.avi")
LOOK_AT = (60, 120, 180, 230)  # vtest frames for the sheet


def run(code: Path, clip: str, frames: int, out: Path) -> dict:
    """``u2live video`` from the checkout ``code`` on ``clip``: wall clock of the whole process, its FPS, its lines."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "u2live", "video", str(DATA / clip), "-o", str(out),
                           "--max-frames", str(frames)], capture_output=True, text=True, env=env, cwd=code, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"u2live video failed in {code}: {done.stderr.strip().splitlines()[-1:]}")
    count = int(done.stderr.split("u2live: ")[-1].split(" frames")[0])
    turns = [line.removeprefix("u2live: --model auto -> ") for line in done.stderr.splitlines()
             if line.startswith("u2live: --model auto")]
    return {"frames": count, "wall_s": round(wall, 2), "fps": round(count / wall, 2), "load_before": load,
            "load_after": os.getloadavg()[0], "turns": turns}


def frames_at(path: Path, wanted: tuple[int, ...]) -> list[np.ndarray]:
    with av.open(str(path)) as clip:
        return [f.to_ndarray(format="bgr24") for i, f in enumerate(clip.decode(video=0)) if i in wanted]


def markdown(report: dict) -> str:
    lines = ["# `--model auto`'s search for standing people: cost and answer, before and after", "",
             (f"Machine: {report['machine']}. `u2live video` at its defaults, {report['frames']} frames a clip, "
              f"whole process wall clock; the two checkouts alternate over {report['rounds']} rounds (before: "
              f"`{report['before']}`)."), "",
             "| clip | round | code | FPS | wall s | load before, after | what auto chose |",
             "|---|---:|---|---:|---:|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['clip']} | {row['round']} | {row['code']} | {row['fps']:.2f} | {row['wall_s']:.1f} | "
                     f"{row['load_before']:.2f}, {row['load_after']:.2f} | {'; '.join(row['turns'])} |")
    lines += ["", "FPS after / before (mean over rounds):", ""]
    for clip, ratio in report["ratios"].items():
        lines.append(f"- {clip}: {ratio:.2f}x")
    lines += ["", "`walkers-speed.jpg`: vtest frames " + ", ".join(map(str, LOOK_AT)) + ", before | after."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the code before the search")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--out", default="walkers-speed", help="results name under benchmarks/results/")
    args = parser.parse_args()
    codes = {"before": args.before.resolve(), "after": REPO}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for round_ in range(args.rounds):
            for clip in CLIPS:
                for name in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                    out = Path(work) / f"{name}-{clip}.mp4"
                    rows.append({"clip": clip, "round": round_, "code": name, **run(codes[name], clip, args.frames,
                                                                                   out)})
                    print(rows[-1], flush=True)
        pairs = [frames_at(Path(work) / f"{name}-vtest.avi.mp4", LOOK_AT) for name in ("before", "after")]
    sheet = np.vstack([np.hstack(pair) for pair in zip(*pairs)])
    cv2.imwrite(str(RESULTS / f"{args.out}.jpg"), cv2.resize(sheet, None, fx=0.5, fy=0.5),
                [cv2.IMWRITE_JPEG_QUALITY, 80])
    ratios = {clip: float(np.mean([r["fps"] for r in rows if r["clip"] == clip and r["code"] == "after"])
                          / np.mean([r["fps"] for r in rows if r["clip"] == clip and r["code"] == "before"]))
              for clip in CLIPS}
    report = {"machine": describe(machine_info()), "before": str(args.before), "rounds": args.rounds,
              "frames": args.frames, "rows": rows, "ratios": ratios}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
