"""Turn ``u2live bench --json`` result files into a Markdown table and PNG plots.

    python benchmarks/report.py benchmarks/results/cpu-epyc-2core.json --out-dir benchmarks/results

writes ``<stem>.md`` (the tables the README quotes), ``<stem>-fps.png`` (FPS by configuration) and
``<stem>-latency.png`` (per-call latency distribution of the model-only runs) for each file. Needs matplotlib
(``pip install "u2live[bench]"``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from u2live.bench.machine import describe
from u2live.bench.table import RATIO_NOTE, row_fps
from u2live.stats import STAGES  # the package's stage names, in pipeline order

COLOURS = {"reference": "#7f7f7f", "model": "#1f77b4", "offline": "#2ca02c", "live": "#ff7f0e",
           "live-sync": "#d62728"}


def load(path: Path) -> dict:
    report = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or "results" not in report or "machine" not in report:
        raise SystemExit(f"{path}: expected a u2live bench JSON file with 'machine' and 'results'")
    return report


def kind(row: dict) -> str:
    """reference, model, offline or live: what a row measured."""
    if row["backend"] == "reference":
        return "reference"
    return "model" if row["stage"] == "model" else row.get("path", "offline")


def label(row: dict) -> str:
    if kind(row) == "reference":
        return "reference (authors' FP32 eager)"
    return f"{kind(row)}: {row['backend']} {row['precision']} {row['size']} b{row['batch']}"


def machine_line(machine: dict, *, note: bool = True) -> str:
    """The machine as the run recorded it (u2live.bench.machine.describe: CPU and its vector instructions, cores,
    GPU, load), and the libraries measured."""
    versions = machine.get("versions", {})
    libs = ", ".join(f"{name} {versions[name]}" for name in ("torch", "onnxruntime", "av") if versions.get(name))
    cuda = f", CUDA {machine['gpu'].get('cuda')}" if machine.get("gpu") else ""
    return f"{describe(machine if note else {**machine, 'note': None})}{cuda}; {libs}"


def _fmt(value, digits: int, suffix: str = "") -> str:
    return "–" if value is None else f"{value:.{digits}f}{suffix}"


def results_table(rows: list[dict]) -> list[str]:
    lines = ["| what | backend | precision | size | batch | FPS | FPS / reference FPS | p50 ms | p99 ms | peak RSS MB |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        if row.get("skipped"):
            continue
        lines.append(f"| {kind(row)} | {row['backend']} | {row['precision']} | {row['size']} | {row['batch']} "
                     f"| {_fmt(row_fps(row), 2)} | {_fmt(row.get('ratio_to_reference'), 2, '×')} "
                     f"| {_fmt(row.get('latency_ms_p50'), 0)} | {_fmt(row.get('latency_ms_p99'), 0)} "
                     f"| {_fmt(row.get('peak_rss_mb'), 0)} |")
    return lines


def stages_table(rows: list[dict]) -> list[str]:
    pipeline = [row for row in rows if row.get("stage") == "pipeline" and row.get("stage_ms")]
    if not pipeline:
        return []
    lines = ["| pipeline | " + " | ".join(STAGES) + " | FPS |", "| --- |" + " ---: |" * (len(STAGES) + 1)]
    for row in pipeline:
        cells = " | ".join(_fmt(row["stage_ms"].get(name), 1) for name in STAGES)
        lines.append(f"| {label(row)} | {cells} | {_fmt(row_fps(row), 2)} |")
    return lines


def markdown(report: dict) -> str:
    rows = report["results"]
    clip = report.get("clip", {})
    parts = [f"Machine: {machine_line(report['machine'])}. Run {report.get('created', '')}; clip: "
             f"{clip.get('name')} ({clip.get('width')}x{clip.get('height')}).", "", *results_table(rows), ""]
    if stages_table(rows):
        parts += ["Per-stage wall time, ms per frame (decode and encode run in their own threads and overlap "
                  "the model):", "", *stages_table(rows), ""]
    return "\n".join(parts + [f"- {note}" for note in notes(report)]) + "\n"


def notes(report: dict) -> list[str]:
    """What the table's figures mean, what was not measured and why, and the paper's figure for context."""
    lines = [RATIO_NOTE + " Live rows' FPS: frames delivered per second of the camera's time.",
             "Model latency is per call (a whole batch); pipeline latency is capture-to-sink, live paths only.",
             "Model-only rows are timed round-robin with the reference, one call each per round, so changes in the "
             "machine's load touch them alike; pipeline rows run one after another.",
             "Peak RSS: the process's peak while the row ran; every configuration stays loaded for the whole run, "
             "so a row includes the resident memory of the rows before it."]
    lines += [f"Not measured: {row['backend']} {row.get('precision') or 'default'} {row['size']} batch "
              f"{row['batch']}: {row['skipped']}" for row in report["results"] if row.get("skipped")]
    lines += [f"Not usable on this machine: {line}" for line in report.get("skipped", [])]
    paper = report.get("paper")
    if paper:
        lines.append(f"For context, the paper's figure (not measured here): {paper['fps']:.0f} FPS for U2-Net† at "
                     "320×320 on a GTX 1080 Ti, model only.")
    return lines


def plot_fps(report: dict, path: Path) -> None:
    """Horizontal bars: FPS of every measured row, coloured by what it measured, ratio to the reference beside."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = [row for row in report["results"] if row_fps(row)]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    y = range(len(rows))[::-1]
    ax.barh(list(y), [row_fps(row) for row in rows], color=[COLOURS[kind(row)] for row in rows])
    for yi, row in zip(y, rows, strict=True):
        ratio = f" ({row['ratio_to_reference']:.2f}× the reference's FPS)" if row.get("ratio_to_reference") else ""
        ax.text(row_fps(row), yi, f" {row_fps(row):.2f}{ratio}", va="center", fontsize=8)
    ax.set_yticks(list(y), [label(row) for row in rows], fontsize=8)
    ax.set_xlabel("frames per second (higher is better; live: delivered, at most the camera's)")
    ax.set_xlim(0, max(row_fps(row) for row in rows) * 1.6)
    ax.set_title(f"u2live bench: U2-Net† FPS\n{machine_line(report['machine'], note=False)}", fontsize=9)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in COLOURS.items()], fontsize=8, loc="lower right")
    paper = report.get("paper")
    if paper:  # as text, not a bar: it was not measured here, and on a CPU it would dwarf every bar
        fig.text(0.01, 0.01, f"For context, the paper's figure: {paper['fps']:.0f} FPS on a GTX 1080 Ti "
                 "(model only, 320x320; not measured here).", fontsize=7, color="#555555")
    _save(fig, path)


def plot_latency(report: dict, path: Path) -> None:
    """Box plots of the per-call latency samples of each model-only row (the reference first)."""
    import matplotlib.pyplot as plt

    rows = [row for row in report["results"] if row.get("stage") == "model" and row.get("latencies_ms")]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.6))
    ax.boxplot([row["latencies_ms"] for row in rows][::-1], orientation="horizontal", whis=(1, 99), showfliers=True)
    ax.set_yticks(range(1, len(rows) + 1), [label(row) for row in rows][::-1], fontsize=8)
    ax.set_xlabel("latency per model call, ms (box: quartiles; whiskers: p1-p99; lower is better)")
    ax.set_title(f"u2live bench: model-only latency\n{machine_line(report['machine'], note=False)}", fontsize=9)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="u2live bench --json files")
    parser.add_argument("--out-dir", type=Path, default=None, help="where to write (default: beside each file)")
    parser.add_argument("--no-plots", action="store_true", help="Markdown only (no matplotlib needed)")
    args = parser.parse_args(argv)
    for path in args.results:
        report = load(path)
        out_dir = args.out_dir or path.parent
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{path.stem}.md").write_text(markdown(report), encoding="utf-8")
        written = [out_dir / f"{path.stem}.md"]
        if not args.no_plots:
            import matplotlib

            matplotlib.use("Agg")  # files only, no display
            plot_fps(report, out_dir / f"{path.stem}-fps.png")
            plot_latency(report, out_dir / f"{path.stem}-latency.png")
            written += [out_dir / f"{path.stem}-fps.png", out_dir / f"{path.stem}-latency.png"]
        print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
