"""The terminal table of a benchmark run, and the JSON file beside it."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import OutputError
from ..outputs import write_atomically
from .machine import describe
from ..stats import STAGES

COLUMNS = ("what", "backend", "precision", "size", "batch", "FPS", "FPS / ref FPS", "p50 ms", "p99 ms",
           "peak RSS MB")


def row_label(row: dict) -> str:
    if row["backend"] == "reference":
        return "reference"
    return row["stage"] if row["stage"] == "model" else f"pipeline {row.get('path', '')}".strip()


def row_fps(row: dict) -> float | None:
    """The rate a row is read by: frames a second for the model and offline rows; for a live row the frames it
    delivered per second of the camera's time (its wall-clock rate counts the start-up too)."""
    return row.get("delivered_fps") if str(row.get("path", "")).startswith("live") else row.get("fps")


def _cells(row: dict) -> list[str]:
    return [row_label(row), row["backend"], str(row["precision"]), str(row["size"]), str(row["batch"]),
            _num(row_fps(row), 2), _num(row.get("ratio_to_reference"), 2, suffix="x"),
            _num(row.get("latency_ms_p50"), 1), _num(row.get("latency_ms_p99"), 1), _num(row.get("peak_rss_mb"), 0)]


def _num(value, digits: int, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def format_table(report: dict) -> str:
    """The results as aligned text: one line per row, then per-stage breakdowns, the paper's figure, the machine."""
    measured = [row for row in report["results"] if not row.get("skipped")]
    rows = [list(COLUMNS)] + [_cells(row) for row in measured]
    if any(row.get("peak_device_mb") is not None for row in measured):
        rows[0].append("peak GPU MB")
        for line, row in zip(rows[1:], measured, strict=True):
            line.append(_num(row.get("peak_device_mb"), 0))
    widths = [max(len(line[i]) for line in rows) for i in range(len(rows[0]))]
    text = ["  ".join(cell.rjust(w) if i >= 3 else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(line, widths, strict=True))) for line in rows]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.extend(_breakdowns(measured))
    text.extend(_live_lines(measured))
    text.extend(f"Not measured: {row['backend']} {row.get('precision') or 'default'} {row['size']} batch "
                f"{row['batch']}: {row['skipped']}" for row in report["results"] if row.get("skipped"))
    text.extend(f"Not usable here: {line}" for line in report.get("skipped", []))
    paper = report.get("paper")
    if paper:
        text.append(f"For context, {paper['label']}: {paper['fps']:.0f} FPS.")
    text.append(f"Machine: {describe(report['machine'])}. Clip: {report['clip']['name']} "
                f"({report['clip']['width']}x{report['clip']['height']}).")
    text.append(RATIO_NOTE)
    text.append("Model latency is per call (a whole batch); pipeline latency is capture-to-sink (live paths only).")
    return "\n".join(text)


RATIO_NOTE = ("FPS / ref FPS: the row's frames a second divided by the reference's, the authors' FP32 eager model "
              "alone (their preprocessing, 320x320, batch 1), measured in this run; a pipeline row's FPS is the "
              "whole run's (decode to encode) against that model alone. Live rows have none: they deliver at most "
              "the camera's rate, so their FPS is the camera's pace, not a speed.")


def _breakdowns(results: list[dict]) -> list[str]:
    lines = []
    for row in results:
        if row.get("stage") == "pipeline" and row.get("stage_ms"):
            parts = ", ".join(f"{name} {row['stage_ms'].get(name, 0.0):.1f}" for name in STAGES)
            lines.append(f"  {row['backend']} {row['precision']} {row['size']} pipeline {row['path']}: "
                         f"ms/frame {parts}")
    return ["", "Per-stage wall time (ms per frame; threads overlap, so stages can sum above 1000/FPS):",
            *lines] if lines else []


def _live_lines(results: list[dict]) -> list[str]:
    """One line per live row: how it kept up with the camera."""
    lines = [f"  {row['backend']} {row['precision']} {row['size']} pipeline {row['path']}: delivered "
             f"{_num(row['delivered_fps'], 1)} of the camera's {_num(row['camera_fps'], 1)} FPS after the first "
             f"frame shown ({_num(100 * row['delivered_share'] if row['delivered_share'] is not None else None, 1)}%"
             f" of the frames it sent since), masks {_num(row['mask_hz'], 1)} Hz, mask age p50 "
             f"{_num(row['mask_age_ms_p50'], 0)} ms, p99 {_num(row['mask_age_ms_p99'], 0)} ms"
             for row in results if row.get("stage") == "pipeline" and row.get("camera_fps") is not None]
    return ["", "Live paths (the clip paced as a camera):", *lines] if lines else []


def write_json(report: dict, path: Path) -> None:
    """The report at ``path``, complete or not at all (:func:`u2live.outputs.write_atomically`)."""
    text = json.dumps(report, indent=1) + "\n"
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OutputError:
        raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
