"""Building a ``cpu`` graph that is not shipped (other weights, another size), in a child process.

Exporting (torch) and calibrating (ONNX Runtime) take seconds to a minute, much of it in native code that Ctrl-C
cannot cut short, and in a live run it happens in a loader thread that the interrupt does not reach at all. In a
child process it ends at once: Ctrl-C in the caller, or :func:`cancel_all` from another thread, ends the child (its
file never reaches the cache half-written: it is written under a temporary name and renamed). The child's progress
lines go to the caller's ``log``; its expected errors are raised in the caller as the same kind. The child costs
its own start (importing torch, ~1-2 s) on top of a build of seconds to a minute.

The child is ``python -m u2live.backends.graph_build REQUEST``; it answers on stdout, one line each:
``log TEXT``, then ``graph PATH`` or ``error KIND MESSAGE``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import errors


class BuildStopped(errors.U2LiveError, RuntimeError):
    """A build ended from outside (:func:`cancel_all`: the run is ending). Not a BackendError: ``--backend auto``
    must not take it for "this backend cannot run here" and go on to load the next one."""


#: how long an ended child gets to remove its temporary file before it is killed
GRACE_SECONDS = 0.1
_children: set[subprocess.Popen] = set()
_stopped: set[subprocess.Popen] = set()  # children that cancel_all ended: stopped, whatever they said on the way out
_lock = threading.Lock()


def build(model: str, weights, size: int, precision: str, *, log) -> Path:
    """The path of our cached graph for these inputs, exported (and for ``int8`` calibrated) once by a child."""
    request = {"model": model, "weights": None if weights is None else str(weights), "size": size,
               "precision": precision}
    child = subprocess.Popen([sys.executable, "-m", __name__, json.dumps(request)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, text=True, env=_child_env(), start_new_session=True)
    with _lock:
        _children.add(child)
    try:
        return _follow(child, log, f"the {precision} graph of {model} at {size}x{size}")
    finally:
        _end(child)  # at once after Ctrl-C; a finished child is only reaped
        with _lock:
            _children.discard(child)
            _stopped.discard(child)


def cancel_all() -> None:
    """End every build under way (their callers get :class:`BuildStopped`): Ctrl-C while another thread builds,
    or the end of a live run while its worker builds the next size's graph."""
    with _lock:
        children = list(_children)
        _stopped.update(children)
    for child in children:
        _end(child)


def _follow(child: subprocess.Popen, log, what: str) -> Path:
    graph, error = None, None
    for line in child.stdout:  # until the child ends; Ctrl-C in this (main) thread stops the read at once
        kind, _, text = line.rstrip("\n").partition(" ")
        if kind == "log":
            log(text)
        elif kind == "graph":
            graph = Path(text)
        elif kind == "error":
            error = text
    code = child.wait()
    if graph is not None:
        return graph
    if child in _stopped:
        # SIGTERM may land inside an import, where Python turns the handler's SystemExit into another error (in
        # torch's, "RuntimeError: Error calling __set_name__"), which the child then reports as a failed build
        raise BuildStopped(f"building {what} was stopped")
    if error:
        name, _, message = error.partition(" ")
        kind = getattr(errors, name, None)
        raise (kind if isinstance(kind, type) and issubclass(kind, errors.U2LiveError) else errors.BackendError)(
            message)
    if code < 0:
        raise BuildStopped(f"building {what} was stopped")
    raise errors.BackendError(f"building {what} failed (exit code {code})")


def _end(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    child.terminate()  # the child removes its temporary file on the way out...
    try:
        child.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()  # ...unless it is deep in native code: then at once
        child.wait()


def _child_env() -> dict:
    """The caller's environment, with this u2live first on the path (the child imports the same package)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _main(request: dict) -> None:
    """The child: build, answer on stdout (see the module docstring)."""
    import logging

    from ..errors import U2LiveError

    logging.disable(logging.WARNING)  # ONNX Runtime's quantiser advises "pre-processing" on every call
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: temporary files are removed
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    answer = lambda kind, text: print(kind, text, flush=True)  # noqa: E731
    try:
        answer("graph", make(**request, log=lambda line: answer("log", line)))
    except U2LiveError as err:
        answer("error", f"{type(err).__name__} {err}")
    except Exception as err:  # noqa: BLE001 - one line for the caller, whatever went wrong
        answer("error", f"BackendError building the graph failed: {type(err).__name__}: {err}")


def make(*, model: str, weights, size: int, precision: str, log) -> Path:
    """Our exported (or quantised) graph for these inputs, made once and cached (this imports torch)."""
    from . import export, quantize

    if precision == "int8":
        return quantize.cached_int8(model, weights, size, log=log)
    return export.cached_onnx(model, weights, size, log=log)[0]


def _exit_with_parent(parent: int) -> None:
    """A child whose caller is gone (killed outright) stops too, rather than build for nobody."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
