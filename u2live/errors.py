"""Error classes. Every expected failure is a ``U2LiveError``; the CLI prints its message as one line and exits
non-zero. Like PyAV's, each also inherits the builtin that fits, so callers can catch either."""


class U2LiveError(Exception):
    """Base class of every error the CLI reports as one line."""


class WeightsError(U2LiveError, ValueError):
    """A weights file is missing, unreadable, or does not fit the chosen model."""


class InputError(U2LiveError, ValueError):
    """An input (image, video, background, option value) cannot be used."""


class BackendError(U2LiveError, RuntimeError):
    """An inference backend is unknown or cannot run here."""


class OutputError(U2LiveError, OSError):
    """An output (file, stream, virtual camera, window) cannot be opened or written."""


class TooLargeError(InputError):
    """An input is larger than allowed: an upload over the size limit, an image with an absurd pixel count."""


class BusyError(U2LiveError, RuntimeError):
    """A service cannot take more work now (its queue is full, or its model is still loading); retry later."""

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


def raise_interrupt_behind(err: BaseException) -> None:
    """Raise the Ctrl-C (KeyboardInterrupt) that ``err`` was made from, if any. A C extension interrupted while it
    initialises reports ``ImportError: initialization failed`` from the interrupt (pybind11: onnxruntime, torch):
    read as "not installed", that would swallow the Ctrl-C (``--backend auto`` went on to the next backend)."""
    seen = err
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            raise seen
        seen = seen.__cause__ or seen.__context__
