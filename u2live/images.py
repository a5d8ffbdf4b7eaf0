"""Reading still images into HxWx3 uint8 RGB, whatever their format, mode or orientation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

# Refuse decompression bombs but allow real 8K/16K photos (Pillow's own limit is ~89 Mpx).
Image.MAX_IMAGE_PIXELS = 400_000_000


def read_rgb(path: str | Path) -> np.ndarray:
    """The image at ``path`` as [H, W, 3] uint8 RGB, EXIF orientation applied, alpha dropped, 16-bit scaled."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return to_rgb8(image)
    except (UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise InputError(f"{path} is not a readable image: {err}") from err
    except OSError as err:
        raise InputError(f"{path} could not be decoded: {err}") from err


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
