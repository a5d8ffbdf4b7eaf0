"""First run on a fresh install: time to the first frame of ``u2live video`` and ``u2live webcam``, and how soon
Ctrl-C acts, at several moments of start-up and of the run; quiet, and beside one busy process.

    python benchmarks/first_run.py [--rounds 2] [--clip Megamind.avi] [--out benchmarks/results/first-run]

Each run is a whole ``u2live`` process with empty caches (``XDG_CACHE_HOME`` a new folder; the "second run" rows
reuse the first run's), so it starts as on a fresh install: no exported graph, no remembered size. ``webcam``
reads ``--source CLIP``, a file paced as a camera (frames come at the clip's rate from the moment it opens, and
frames not taken in time are dropped, as a camera's are). The child is ``u2live``'s own CLI with two functions
wrapped to print a timestamp: the source opening (``u2live.sources.open_source`` returning) and the first frame
reaching every output (the progress bar's first update). "Ctrl-C" is SIGINT sent to the process at the moment
named; the figure is from the signal to the process's exit (every output closed), and to its "stopping" line.
Busy: one ``python -c 'while True: pass'`` runs beside, started before the runs. Writes OUT.json and OUT.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data" / "Megamind.avi"
MARK = "FIRSTRUN"


def child(argv: list[str]) -> None:
    """``u2live ARGV`` with a timestamp printed on stderr when the source opens and when the first frame is out.
    Nothing is imported before u2live's CLI would import it: tqdm and u2live.sources are wrapped as they load."""
    def mark(what: str) -> None:
        print(f"{MARK} {what} {time.time():.4f}", file=sys.stderr, flush=True)

    def first_update(update):
        seen = []

        def wrapped(self, n=1):
            if not seen:
                seen.append(mark("frame"))
            return update(self, n)
        return wrapped

    def opened(open_source):
        def wrapped(*args, **kwargs):
            source = open_source(*args, **kwargs)
            mark("source")
            return source
        return wrapped

    sys.meta_path.insert(0, _Patching({"tqdm.std": lambda m: setattr(m.tqdm, "update", first_update(m.tqdm.update)),
                                       "u2live.sources": lambda m: setattr(m, "open_source",
                                                                           opened(m.open_source))}))
    sys.argv = ["u2live", *argv]
    from u2live.cli import main

    main()


class _Patching:
    """An import hook: ``patches[name](module)`` right after module ``name`` has run (before anyone uses it)."""

    def __init__(self, patches: dict):
        self.patches = patches

    def find_spec(self, name, path, target=None):
        if name not in self.patches:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        run, patch = spec.loader.exec_module, self.patches.pop(name)
        spec.loader.exec_module = lambda module: (run(module), patch(module))
        return spec


#: (name, u2live arguments, the cache to use: "fresh" or "reuse" the previous row's, when to send SIGINT or None)
#: A moment is (line to wait for: a u2live line's words or a MARK event, or "" for the start; seconds after it).
def scenarios(clip: str, out: str) -> list[tuple[str, list[str], str, tuple[str, float] | None]]:
    video = ["video", clip, "-o", f"{out}/video.mp4"]
    webcam = ["webcam", "--source", clip, "--no-vcam", "-o", f"{out}/webcam.mp4"]
    return [
        ("video: first frame, fresh install", [*video, "--max-frames", "48"], "fresh", None),
        ("video: first frame, second run", [*video, "--max-frames", "48"], "reuse", None),
        ("webcam: first frame, fresh install (first run here)", [*webcam, "--max-frames", "240"], "fresh", None),
        ("webcam: first frame, second run (remembered size)", [*webcam, "--max-frames", "72"], "reuse", None),
        ("video: Ctrl-C while importing (0.5 s after start)", video, "fresh", ("", 0.5)),
        ("video: Ctrl-C while the model loads (source just opened)", video, "fresh", (f"{MARK} source", 0.0)),
        ("video: Ctrl-C while running (1 s after the first frame)", video, "reuse", (f"{MARK} frame", 1.0)),
        ("video --size 352: Ctrl-C while exporting (1 s in)", [*video, "--size", "352"], "fresh",
         ("exporting ONNX graph", 1.0)),
        ("video --size 352: Ctrl-C while calibrating (1 s in)", [*video, "--size", "352"], "fresh",
         ("calibrating INT8 graph", 1.0)),
        ("webcam: Ctrl-C while the model loads (camera just opened)", webcam, "fresh", (f"{MARK} source", 0.0)),
        ("webcam: Ctrl-C while measuring, first run (2 s after the first frame)", webcam, "fresh",
         (f"{MARK} frame", 2.0)),
        ("webcam: Ctrl-C while loading the next size (its line)", webcam, "fresh", ("masks/s at", 0.0)),
        ("webcam --size 352: Ctrl-C while exporting (1 s in)", [*webcam, "--size", "352"], "fresh",
         ("exporting ONNX graph", 1.0)),
    ]


class Run:
    """One u2live process: its stderr lines with arrival times, SIGINT at the moment asked, its exit time."""

    def __init__(self, argv: list[str], cache: str, moment: tuple[str, float] | None, timeout: float,
                 checkout: Path = ROOT):
        env = {**os.environ, "XDG_CACHE_HOME": cache, "PYTHONPATH": str(checkout)}
        env.pop("U2LIVE_CACHE", None)
        self.lines: list[tuple[float, str]] = []
        self.moment, self.signalled = moment, None
        self.started = time.time()
        self.process = subprocess.Popen([sys.executable, __file__, "--child", *argv], cwd=checkout, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        if moment and not moment[0]:
            self._signal_after(moment[1])
        deadline = self.started + timeout
        while self.process.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        self.ended = time.time()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        reader.join(5)

    def _read(self) -> None:
        for line in self.process.stderr:
            now = time.time()
            self.lines.append((now, line.rstrip("\n")))
            if self.moment and self.moment[0] and self.signalled is None and self.moment[0] in line:
                threading.Thread(target=self._signal_after, args=(self.moment[1],), daemon=True).start()

    def _signal_after(self, seconds: float) -> None:
        time.sleep(seconds)
        if self.process.poll() is None and self.signalled is None:
            self.signalled = time.time()
            self.process.send_signal(signal.SIGINT)

    def event(self, name: str) -> float | None:
        """The child's own timestamp of a MARK event."""
        return next((float(text.split()[2]) for _, text in self.lines if text.startswith(f"{MARK} {name} ")), None)

    def result(self) -> dict:
        source, frame = self.event("source"), self.event("frame")
        stopping = next((t for t, text in self.lines if "stopping" in text), None)
        said = [text for _, text in self.lines if text.startswith("u2live:")]
        return {
            "exit_code": self.process.returncode,
            "first_frame_s": _minus(frame, self.started), "source_open_s": _minus(source, self.started),
            "first_frame_after_source_s": _minus(frame, source),
            "sigint_at_s": _minus(self.signalled, self.started),
            "sigint_to_exit_s": _minus(self.ended, self.signalled),
            "sigint_to_stopping_line_s": _minus(stopping, self.signalled),
            "lines": said,
        }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def run_condition(clip: str, rounds: int, busy: bool, only: str = "", checkout: Path = ROOT) -> list[dict]:
    """Every scenario (whose name contains ``only``) ``rounds`` times, round by round, optionally beside one busy
    process."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    results = []
    try:
        for round_ in range(rounds):
            with tempfile.TemporaryDirectory(prefix="u2live-first-run-") as work:
                cache = None
                for index, (name, argv, which, moment) in enumerate(scenarios(clip, work)):
                    if only not in name:
                        continue
                    if which == "fresh" or cache is None:
                        cache = tempfile.mkdtemp(dir=work, prefix="cache-")
                    load = os.getloadavg()
                    run = Run(argv, cache, moment, timeout=600, checkout=checkout)
                    results.append({"scenario": name, "index": index, "round": round_, "busy": busy,
                                    "load_average": [round(x, 2) for x in load], **run.result()})
                    print(json.dumps(results[-1])[:400], flush=True)
    finally:
        if hog:
            hog.kill()
            hog.wait()
    return results


def summary(results: list[dict]) -> list[dict]:
    """Per scenario and condition: medians and ranges of the figures."""
    rows = []
    for busy in (False, True):
        for index in sorted({r["index"] for r in results}):
            runs = [r for r in results if r["index"] == index and r["busy"] == busy]
            if not runs:
                continue
            row = {"scenario": runs[0]["scenario"], "busy": busy, "runs": len(runs),
                   "exit_codes": sorted({r["exit_code"] for r in runs}),
                   "load_1min": [min(r["load_average"][0] for r in runs), max(r["load_average"][0] for r in runs)]}
            for key in ("first_frame_s", "first_frame_after_source_s", "sigint_to_exit_s",
                        "sigint_to_stopping_line_s", "sigint_at_s"):
                values = [r[key] for r in runs if r[key] is not None]
                if values:
                    row[key] = {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values)}
            rows.append(row)
    return rows


def markdown(report: dict) -> str:
    from u2live.bench.machine import describe

    name = Path(report.get("out", "first-run")).name
    def figure(row, key):
        value = row.get(key)
        return "" if value is None else f"{value['median']:.2f} ({value['min']:.2f}-{value['max']:.2f})"

    lines = [f"`{report['command']}`, {report['date']}, {describe(report['machine'])}; clip "
             f"{Path(report['clip']).name}, {report['rounds']} rounds per row, median (min-max) in seconds "
             f"([JSON]({name}.json)). Bars (issue 20): first frame of `video` within 5 s of start; `webcam`'s "
             "first frame within 2 s of the camera opening; Ctrl-C acts within 1 s.", "",
             "| scenario | beside a busy process | load (1 min) before the runs | first frame after start "
             "| first frame after the camera opened | Ctrl-C sent at | Ctrl-C to exit | Ctrl-C to its 'stopping' line "
             "| exit codes |", "|---|---|---|---|---|---|---|---|---|"]
    for row in report["summary"]:
        low, high = row["load_1min"]
        lines.append(f"| {row['scenario']} | {'yes' if row['busy'] else 'no'} | {low:.1f}-{high:.1f} | "
                     f"{figure(row, 'first_frame_s')} | "
                     f"{figure(row, 'first_frame_after_source_s')} | {figure(row, 'sigint_at_s')} | "
                     f"{figure(row, 'sigint_to_exit_s')} | {figure(row, 'sigint_to_stopping_line_s')} | "
                     f"{', '.join(map(str, row['exit_codes']))} |")
    lines += ["", "What the runs said (first round, quiet), for the rows that start on a fresh install:", ""]
    for result in report["results"]:
        if result["round"] == 0 and not result["busy"] and result["index"] in (0, 2, 3, 7):
            lines.append(f"- {result['scenario']}:")
            lines += [f"  - `{text}`" for text in result["lines"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clip", default=str(CLIP))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "first-run"))
    parser.add_argument("--quiet-only", action="store_true", help="skip the runs beside a busy process")
    parser.add_argument("--only", default="", help="only the scenarios whose name contains this")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the u2live checkout to run (default: this one; e.g. one of the code before a change)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from u2live.bench.machine import finished, machine_info

    machine = machine_info()
    results = run_condition(args.clip, args.rounds, busy=False, only=args.only, checkout=args.checkout)
    if not args.quiet_only:
        results += run_condition(args.clip, args.rounds, busy=True, only=args.only, checkout=args.checkout)
    report = {"command": "python benchmarks/first_run.py " + " ".join(sys.argv[1:]), "checkout": str(args.checkout),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": finished(machine),
              "clip": args.clip, "rounds": args.rounds, "out": args.out, "summary": summary(results),
              "results": results}
    Path(args.out).with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    Path(args.out).with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
