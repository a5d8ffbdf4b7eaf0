"""One context-manager protocol for everything u2live opens: ``with x:`` ends in ``x.close()``."""


class Closing:
    """Mixin: ``__enter__`` returns the object, ``__exit__`` calls ``close()``. ``close()`` is idempotent: it runs
    the subclass's ``_close()`` exactly once however often it is called (after an error, Ctrl-C and the normal
    end may all close the same sink)."""

    _closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close()

    def _close(self) -> None:
        """Release what the object holds; called once."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
