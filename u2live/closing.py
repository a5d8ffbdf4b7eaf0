"""One context-manager protocol for everything u2live opens: ``with x:`` ends in ``x.close()``."""


class Closing:
    """Mixin: ``__enter__`` returns the object, ``__exit__`` calls ``close()`` (which subclasses make idempotent)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
