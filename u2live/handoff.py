"""Handing items between threads through bounded queues without ever blocking past a stop: one poll interval,
one end-of-stream marker and one put that gives up when the run stops (the pipeline's writer, the file reader)."""
from __future__ import annotations

import queue
import threading

POLL_SECONDS = 0.1  # how often a blocked put/get re-checks the stop event
END = object()  # end-of-stream marker


def put_until_stopped(items: queue.Queue, item, stop: threading.Event) -> bool:
    """Queue ``item``, waiting while ``items`` is full; False (not queued) once ``stop`` is set."""
    while not stop.is_set():
        try:
            items.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False
