"""``Range`` headers of result downloads, checked before Starlette's ``FileResponse`` sees them.

Starlette answers a malformed header with a plain-text 400, an unsatisfiable one with an empty 416, and some
(numbers too long to convert) with a 500; this server answers every failure as one JSON line. What is accepted is
what ``FileResponse`` serves: ``bytes=`` and up to :data:`MAX_RANGES` ranges ``START-END``, ``START-`` or
``-SUFFIX``, each starting inside the file, none ending before it starts.
"""
from __future__ import annotations

import re

from starlette.exceptions import HTTPException

MAX_RANGES = 16  # a player asks for one; many tiny ranges would only multiply the work per byte
MAX_DIGITS = 18  # any file size fits; int() of thousands of digits is itself a cost (and a ValueError)
PART = re.compile(rf"(\d{{0,{MAX_DIGITS}}})-(\d{{0,{MAX_DIGITS}}})")


def check_range(header: str | None, size: int) -> None:
    """HTTPException 400 (malformed) or 416 (outside the file, with ``Content-Range: bytes */SIZE``) unless
    ``header`` is absent or a ``Range`` that ``FileResponse`` serves for a file of ``size`` bytes."""
    if header is None:
        return
    unit, _, spec = header.partition("=")
    parts = [part.strip() for part in spec.split(",")]
    if unit.strip().lower() != "bytes" or not spec.strip() or len(parts) > MAX_RANGES:
        raise HTTPException(400, f"Range must be bytes=START-END (up to {MAX_RANGES} ranges), got {header[:80]!r}")
    for part in parts:
        match = PART.fullmatch(part)
        if match is None or match.group(0) == "-":
            raise HTTPException(400, f"Range part {part[:40]!r} is not START-END, START- or -SUFFIX")
        start, end = (int(group) if group else None for group in match.groups())
        if start is not None and end is not None and end < start:
            raise HTTPException(400, f"Range part {part!r} ends before it starts")
        first = start if start is not None else max(size - end, 0) if end else size  # -0 is no byte at all
        if not 0 <= first < size:
            raise HTTPException(416, f"Range part {part!r} is outside the result ({size} bytes)",
                                headers={"Content-Range": f"bytes */{size}"})
