"""``u2live segment``: masks or cut-outs of still images, at each image's own resolution."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from PIL import Image

from .. import backends
from ..errors import InputError, U2LiveError
from ..images import read_rgb
from ..options import model_options, segmenter_options
from ..preprocess import normalise_minmax, resize_mask, to_uint8
from ..progress import progress_bar


def mask_for(segmenter: backends.Segmenter, image: np.ndarray) -> np.ndarray:
    """[H, W] uint8 mask of an RGB image, post-processed as the authors' test script does."""
    d0 = normalise_minmax(segmenter.predict([image]))[0]
    return to_uint8(resize_mask(d0, *image.shape[:2]))


def write_result(image: np.ndarray, mask: np.ndarray, path: Path, fmt: str) -> None:
    if fmt == "cutout":
        picture = Image.fromarray(np.dstack([image, mask]), "RGBA")
    else:
        picture = Image.fromarray(mask, "L")
    try:
        picture.save(path)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from err


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out-dir", "-d", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the results, one DIR/<stem>.png per input (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["mask", "cutout"]), default="mask", show_default=True,
              help="mask: 8-bit grayscale mask; cutout: the image as RGBA with the mask as alpha.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@model_options
def segment(inputs, out_dir, fmt, quiet, **model):
    """Segment still images (JPEG, PNG, WebP, ...): write a mask or cut-out per image.

    A bad image is reported and skipped; the exit code is non-zero if any was skipped.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create output folder {out_dir}: {err.strerror or err}") from err
    failures = 0
    with backends.create(**segmenter_options(**model)) as segmenter:
        for path in progress_bar(inputs, total=len(inputs), unit="img", disable=quiet or len(inputs) < 2):
            try:
                image = read_rgb(path)
                write_result(image, mask_for(segmenter, image), out_dir / f"{path.stem}.png", fmt)
            except InputError as err:
                failures += 1
                click.echo(f"u2live: skipped: {err}", err=True)
    if failures:
        raise U2LiveError(f"{failures} of {len(inputs)} inputs failed")
