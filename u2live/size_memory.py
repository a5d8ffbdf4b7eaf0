"""What ``--size auto`` settled on, remembered per machine and model, so that the next live run starts there.

A live run under ``--size auto`` starts at once: at the size remembered for this machine and model, or, the first
time, at the smallest live size; the running model's own rate then refines it (:class:`u2live.adaptive
.RefreshGovernor`), and each size it settles on is written here. Nothing is measured before the first frame.

One small JSON file in the cache folder, ``live-sizes.json``: {key: {"size", "precision", "hz", "when"}}, the key
naming the machine (CPU model and usable cores) and what was asked for (model, backend, precision). An unreadable
or unwritable file only costs the next run its remembered start.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .backends import engine_cache
from .errors import U2LiveError

FILE = "live-sizes.json"


def machine() -> str:
    """This machine as far as the model's speed goes: the CPU's model name and the cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return f"{cpu_name()}, {cores} cores"


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class SizeMemory:
    """The remembered size for one live run's choices: ``model``, and ``backend`` and ``precision`` as asked for
    (``auto`` or a name); ``directory`` defaults to the cache folder."""

    def __init__(self, model: str, backend: str, precision: str | None, directory: Path | None = None):
        self.key = f"{machine()} | {model} | backend {backend} | precision {precision or 'auto'}"
        self.directory = directory
        entry = _read(directory).get(self.key)
        #: {"size", "precision", "hz", "when"} as remembered, or None (never run here with these choices)
        self.recalled = entry if isinstance(entry, dict) and isinstance(entry.get("size"), int) else None

    def start(self, sizes) -> int:
        """The size to start at: the remembered one, else the smallest of ``sizes`` (any machine runs it)."""
        size = self.recalled["size"] if self.recalled else None
        return size if size in sizes else min(sizes)

    def remember(self, setting, hz: float | None) -> None:
        """Record the rung (``.size``, ``.precision``) a live run settled on, with the mask rate measured there."""
        entries = _read(self.directory)
        entries[self.key] = {"size": setting.size, "precision": setting.precision,
                             "hz": None if hz is None else round(hz, 1), "when": time.strftime("%Y-%m-%d %H:%M")}
        text = json.dumps(entries, indent=1, sort_keys=True)
        try:
            engine_cache.write_atomically(_path(self.directory), lambda tmp: tmp.write_text(text))
        except (U2LiveError, OSError):
            pass  # an unwritable cache only costs the next run its remembered start


def _read(directory: Path | None) -> dict:
    try:
        entries = json.loads(_path(directory).read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _path(directory: Path | None) -> Path:
    return (directory or engine_cache.cache_dir()) / FILE
