"""Progress bars on stderr, shown only on a terminal (tqdm)."""
from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(iterable=None, *, total=None, unit="frame", disable=False, desc=None):
    """A tqdm bar (done/total, rate, ETA) on stderr; silent when stderr is not a terminal or ``disable``."""
    return tqdm(iterable, total=total, unit=unit, desc=desc, dynamic_ncols=True, file=sys.stderr,
                disable=disable or not sys.stderr.isatty())
