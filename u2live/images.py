"""Reading still images into HxWx3 uint8 RGB, whatever their format, mode or orientation, without trusting them.

Every image u2live reads (``segment``'s inputs, ``--bg``, ``eval``'s maps and labels, the Python API, uploads to the
server) is opened here, and two things are decided from its header, before a pixel is decoded:

- its format is one of :data:`FORMATS` (what photos and masks come as). Pillow would also open EPS (by running
  Ghostscript on the file: untrusted PostScript), PDF, ICNS, FITS and some thirty more; none of them is read.
- its pixel count is at most ``max_pixels`` (:data:`MAX_PIXELS` unless the caller says less, as the server does),
  so a small file that would decode into gigabytes (a decompression bomb) costs nothing. Pillow's own guard only
  refuses at twice its limit, after a warning.
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, TooLargeError

#: the formats read, as Pillow names its openers; ``format`` of an image opened by one of them (the JPEG opener
#: calls a multi-picture JPEG, as many phones write, MPO)
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")
OPENED_AS = frozenset({*FORMATS, "MPO"})
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, TIFF or GIF"
#: the most pixels an image may have here: 200 Mpx (a 16K panorama is 130); decoding one costs ~0.6 GB as RGB, and
#: the mask, cut-out and compositing at full resolution a few times that
MAX_PIXELS = 200_000_000

Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS  # Pillow's own guard stays, behind ours


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """TooLargeError (one line) when ``width`` x ``height`` is over ``max_pixels``."""
    if width * height > max_pixels:
        raise TooLargeError(f"{what} is {width}x{height} ({width * height / 1e6:.0f} Mpx), over the limit of "
                            f"{max_pixels / 1e6:g} Mpx")


def open_image(source: str | Path | BinaryIO, *, max_pixels: int = MAX_PIXELS, name: str | None = None):
    """The Pillow image of ``source`` (a path or a binary file), opened from its header only: one of
    :data:`FORMATS`, at most ``max_pixels``. ``name`` is what messages call it. Close it (``with``)."""
    what = name or str(source)
    try:
        image = Image.open(source, formats=FORMATS)
    except UnidentifiedImageError as err:
        raise InputError(f"{what} is not a readable image (u2live reads {FORMAT_NAMES})") from err
    except Image.DecompressionBombError as err:
        raise TooLargeError(f"{what}: {err}") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{what} could not be read as an image: {err}") from err
    try:
        check_pixels(*image.size, max_pixels, what)
    except BaseException:
        image.close()
        raise
    return image


def read_rgb(source: str | Path | BinaryIO, *, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """The image at ``source`` (a path or a binary file) as [H, W, 3] uint8 RGB, EXIF orientation applied, alpha
    dropped, 16-bit scaled; opened by :func:`open_image` (allowed formats, pixel count checked first)."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise InputError(f"image not found: {source}")
    what = name or str(source)
    with open_image(source, max_pixels=max_pixels, name=what) as image:
        try:
            return to_rgb8(ImageOps.exif_transpose(image))
        except Image.DecompressionBombError as err:
            raise TooLargeError(f"{what}: {err}") from err
        except (OSError, SyntaxError, ValueError) as err:
            raise InputError(f"{what} could not be decoded: {err}") from err


def check_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> None:
    """InputError unless ``path`` is an image :func:`open_image` accepts (for files another decoder reads)."""
    if not Path(path).is_file():
        raise InputError(f"image not found: {path}")
    with open_image(path, max_pixels=max_pixels):
        pass


def to_rgb8(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit integer) grayscale: scale by the type's range, not the image's, to keep exposure.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))
