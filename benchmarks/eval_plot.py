"""Several ``u2live eval --json`` results on one precision-recall plot, and their metrics as a Markdown table.

    python benchmarks/eval_plot.py benchmarks/results/eval-*.json --plot benchmarks/results/eval-pr.png \
        --markdown benchmarks/results/eval.md

Each curve is labelled by its JSON's ``label`` (``u2live eval --label``), else by the file's stem.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from u2live.commands.eval import ROWS, plot_pr_curves


def load(paths: list[Path]) -> dict[str, dict]:
    results = {}
    for path in paths:
        result = json.loads(path.read_text())
        results[result.get("label") or path.stem] = result
    return results


def markdown(results: dict[str, dict]) -> str:
    keys = [key for key, _ in ROWS]
    lines = ["| run | images | " + " | ".join(keys) + " |", "| --- | ---: |" + " ---: |" * len(keys)]
    for label, result in results.items():
        lines.append(f"| {label} | {result['count']} | " + " | ".join(f"{result[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="u2live eval --json files")
    parser.add_argument("--plot", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the metrics as a Markdown table")
    args = parser.parse_args()
    results = load(args.results)
    plot_pr_curves(results, args.plot)
    table = markdown(results)
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
