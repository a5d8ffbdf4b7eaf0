"""Where one-line progress messages go by default: stderr, one line each, flushed (a progress bar shares it)."""
from __future__ import annotations

import sys


def stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
