"""``u2live segment``: masks, cut-outs, boxes and highlights of still images and folders of them, at each image's
own resolution. Every output is planned before the model loads, so a clash (two inputs writing one file, an output
landing on an input) stops the run with nothing written.

Runs without torch on the ``cpu`` backend: :mod:`u2live.backgrounds` (torch) is imported only for ``--bg``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from PIL import Image

from ..api import as_rgb, cutout_of, load
from ..errors import InputError, OutputError, U2LiveError
from ..options import Finite, model_options, overwrite_option
from ..outputs import plan_outputs, write_atomically
from ..progress import progress_bar
from ..salient import box_record, highlight

FORMATS = ("mask", "cutout", "box", "highlight")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
#: zlib level of the PNGs we write. Our cut-outs keep the true colour under soft alpha (rembg multiplies it away),
#: which compresses worse; on the 18 reference cut-outs level 1 encodes 2.7x faster than Pillow's default 6 for
#: 12% more bytes (19.1 vs 17.1 MB; benchmarks/segment_speed.py), the better trade for a command people wait on
PNG_COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class ImageTask:
    """One input image and the file each requested format writes."""

    image: Path
    outputs: dict[str, Path]


def parse_formats(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise click.BadParameter(f"expected a comma list of {', '.join(FORMATS)}, got {text!r}",
                                 param_hint="--format")
    return names


def output_names(stem: str, formats: tuple[str, ...]) -> dict[str, str]:
    """File name per format: mask STEM.png; cutout STEM.png alone, STEM.cutout.png beside a mask; box STEM.json;
    highlight STEM.highlight.png."""
    names = {"mask": f"{stem}.png", "box": f"{stem}.json", "highlight": f"{stem}.highlight.png",
             "cutout": f"{stem}.cutout.png" if "mask" in formats else f"{stem}.png"}
    return {fmt: names[fmt] for fmt in formats}


def find_images(inputs, recursive: bool) -> list[tuple[Path, Path]]:
    """(image, its folder relative to the output folder) for every input: files as given, folders' images sorted
    (sub-folders with ``recursive``, mirrored)."""
    found = []
    for path in inputs:
        if not path.is_dir():
            found.append((path, Path()))
            continue
        pattern = "**/*" if recursive else "*"
        images = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                        and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not images:
            raise InputError(f"no images in folder {path}" + ("" if recursive else " (--recursive for sub-folders)"))
        found.extend((image, image.parent.relative_to(path)) for image in images)
    return found


def plan(inputs, out_dir: Path, formats: tuple[str, ...], recursive: bool, overwrite: bool = True,
         also_read: dict | None = None) -> list[ImageTask]:
    """Every output of every input, refusing two writers of one file, outputs that would replace an input or a
    file in ``also_read`` ({path: what it is}: --bg, --weights), and (``overwrite`` False) outputs that exist."""
    tasks = [ImageTask(image, {fmt: out_dir / folder / name for fmt, name in output_names(image.stem, formats).items()})
            for image, folder in find_images(inputs, recursive)]
    # (output, the image it comes from) pairs: two images on one output name are refused there, naming both
    pairs = [(output, task.image) for task in tasks for output in task.outputs.values()]
    plan_outputs(pairs, {**{task.image: "input image" for task in tasks}, **(also_read or {})}, overwrite=overwrite)
    return tasks


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out-dir", "-d", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the results (created if missing); folders given as inputs are mirrored inside it.")
@click.option("--format", "formats", default="mask", show_default=True, callback=lambda c, p, v: parse_formats(v),
              help="Comma list of: mask (8-bit grayscale, STEM.png), cutout (RGBA, the mask as alpha, true "
                   "colour; STEM.png, or STEM.cutout.png beside a mask), box (STEM.json: the salient object's box "
                   "and regions), highlight (STEM.highlight.png: background dimmed, outline and box drawn).")
@click.option("--bg", default=None, metavar="SPEC",
              help="cutout only: composite onto color:R,G,B, #RRGGBB, an image file (cover-fitted) or blur "
                   "instead of writing transparency.")
@click.option("--threshold", type=Finite(0.0, 1.0), default=0.5, show_default=True,
              help="box and highlight: a pixel is the object when its mask value (0..1) is >= this.")
@click.option("--recursive", "-r", is_flag=True, help="Folder inputs: include sub-folders (mirrored).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@overwrite_option
@model_options
def segment(inputs, out_dir, formats, bg, threshold, recursive, quiet, overwrite, **model):
    """Segment still images (JPEG, PNG, WebP, ...) or folders of them: a mask, cut-out, box and/or highlight
    per image, at the image's own size.

    A bad image is reported and skipped; the exit code is non-zero if any was skipped.
    """
    background = _check_bg(bg, formats) if bg is not None else None
    tasks = plan(inputs, out_dir, formats, recursive, overwrite,
                also_read={getattr(background, "path", None): "background", model["weights"]: "weights"})
    failures = 0
    with load(**model) as net:
        for task in progress_bar(tasks, total=len(tasks), unit="img", disable=quiet or len(tasks) < 2):
            try:
                write_task(net, task, bg=bg, threshold=threshold, overwrite=overwrite)
            except InputError as err:
                failures += 1
                click.echo(f"u2live: skipped: {err}", err=True)
    if failures:
        raise U2LiveError(f"{failures} of {len(tasks)} inputs failed")


def _check_bg(bg: str, formats: tuple[str, ...]):
    if "cutout" not in formats:
        raise click.UsageError("--bg applies to --format cutout")
    from ..backgrounds import parse_background  # torch: only when --bg is given

    return parse_background(bg)  # a bad --bg is one line before the model loads


def write_task(model, task: ImageTask, *, bg: str | None, threshold: float, overwrite: bool = True) -> None:
    """Segment one image and write each of its outputs (each complete or not at all: u2live.outputs)."""
    image = as_rgb(task.image)
    mask = model.mask(image)
    for fmt, path in task.outputs.items():
        if fmt == "box":
            record = box_record(task.image.name, mask, threshold)
            _save(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"), overwrite)
        else:
            picture = {"mask": lambda: mask, "cutout": lambda: cutout_of(image, mask, bg),
                       "highlight": lambda: _highlight(image, mask, threshold)}[fmt]()
            _save(path, lambda tmp: save_png(picture, tmp), overwrite)


def _save(path: Path, write, overwrite: bool) -> None:
    try:
        write_atomically(path, write, overwrite=overwrite)
    except OutputError:
        raise
    except OSError as err:  # a full disk while writing: one line, and the run stops (the next would fail too)
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err


def _highlight(image: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    return highlight(image, mask, threshold)


def save_png(array: np.ndarray, path: Path) -> None:
    """An [H, W] (L), [H, W, 3] (RGB) or [H, W, 4] (RGBA) uint8 array as a PNG, at :data:`PNG_COMPRESS_LEVEL`."""
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
