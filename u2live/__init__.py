"""u2live: real-time background replacement with U2-Net† (Qin et al., Pattern Recognition 2020).

The Python API (:mod:`u2live.api`) is re-exported here lazily, so ``import u2live`` loads nothing heavy:

    import u2live
    model = u2live.load()
    cutout = model.cutout("photo.jpg")
"""

__version__ = "0.1.0"

__all__ = ["Model", "load", "remove"]


def __getattr__(name: str):
    # PEP 562: the API module (and through it numpy) is imported on first use of one of its names only.
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'u2live' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
