"""``u2live eval``: how close saliency maps are to labelled masks, in the field's standard metrics
(:mod:`u2live.evaluate`): maps already made by any tool (``--pred``), or our model's on the images (``--images``).
matplotlib (the optional ``bench`` extra) is imported only for ``--plot``."""
from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import click
import cv2
import numpy as np

from ..api import load
from ..errors import InputError, U2LiveError
from ..evaluate import Evaluation
from ..images import check_image
from ..options import model_options, overwrite_option
from ..outputs import plan_outputs, write_atomically
from ..progress import progress_bar
from .segment import IMAGE_SUFFIXES

ROWS = [("mae", "MAE (lower is better)"), ("max_f", "max F-measure"), ("mean_f", "mean F-measure"),
        ("adaptive_f", "adaptive F-measure"), ("weighted_f", "weighted F-measure"), ("s_measure", "S-measure"),
        ("max_e", "max E-measure"), ("mean_e", "mean E-measure"), ("adaptive_e", "adaptive E-measure")]


def files_by_stem(folder: Path, role: str) -> dict[str, Path]:
    """{stem: file} of the images directly in ``folder``; two files with one stem are an error."""
    if not folder.is_dir():
        raise InputError(f"{role} folder not found: {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            if path.stem in found:
                raise InputError(f"{found[path.stem]} and {path} are both {role} for {path.stem!r}: keep one")
            found[path.stem] = path
    if not found:
        raise InputError(f"no images in the {role} folder {folder}")
    return found


def read_gray(path: Path) -> np.ndarray:
    """[H, W] uint8 as the toolkit reads maps (``cv2.imread(path, IMREAD_GRAYSCALE)``), once its header passed
    :func:`u2live.images.check_image` (an allowed format, a sane pixel count: OpenCV's own limit is 1 Gpx)."""
    check_image(path)
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise InputError(f"{path} is not a readable image")
    return gray


def fit_to(pred: np.ndarray, gt: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """The prediction at the ground truth's size (bilinear, as the standard toolkits' loaders do)."""
    if pred.shape == gt.shape:
        return pred
    notes.append(f"{name}: prediction {pred.shape[1]}x{pred.shape[0]} resized to the ground truth's "
                 f"{gt.shape[1]}x{gt.shape[0]}")
    return cv2.resize(pred, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)


def table(summary: dict) -> str:
    lines = [f"{'metric':<24}{'value':>10}", "-" * 34]
    lines += [f"{label:<24}{summary[key]:>10.4f}" for key, label in ROWS]
    lines.append(f"{'images':<24}{summary['count']:>10d}")
    return "\n".join(lines)


def plot_pr_curves(results: dict[str, dict], path: Path) -> None:
    """Precision-recall curves of several ``--json`` results ({label: result}) on one PNG, max F in the legend."""
    try:
        import matplotlib
    except ImportError as err:
        raise InputError("plots need matplotlib: pip install 'u2live[bench]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5), dpi=120)
    for label, result in results.items():
        curve = result["pr_curve"]
        axes.plot(curve["recall"], curve["precision"], label=f"{label} (max F {result['max_f']:.3f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01),
             title=f"precision-recall, {next(iter(results.values()))['count']} images")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


@click.command("eval")
@click.option("--gt", "gt_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder of ground-truth masks (binarised at > 128), paired with predictions by file stem.")
@click.option("--pred", "pred_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of saliency maps already made (by any tool) to score.")
@click.option("--images", "images_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of images: our model (--backend, --precision, --size, ...) makes the maps to score.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every metric, the PR curve and per-image figures as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the precision-recall curve as a PNG (needs matplotlib).")
@click.option("--label", default=None, help="Name of this run in the JSON and plot (default: what was scored).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@overwrite_option
@model_options
def eval_command(gt_dir, pred_dir, images_dir, json_path, plot_path, label, quiet, overwrite, **model):
    """Score saliency maps against ground truth: MAE, max/mean/adaptive F-measure (beta^2 = 0.3, 256
    thresholds), weighted F-measure, S-measure, max/mean/adaptive E-measure and the precision-recall curve, as
    PySODMetrics defines them (prediction min-max normalised; a prediction of another size is resized to the
    ground truth's).

    Give --pred (maps made by any tool) or --images (our model makes them). A missing partner or an unreadable
    file is one line; the exit code is non-zero if a ground truth could not be scored.
    """
    if (pred_dir is None) == (images_dir is None):
        raise click.UsageError("give exactly one of --pred DIR (maps to score) or --images DIR (run the model)")
    truths = files_by_stem(gt_dir, "ground truth")
    sources = files_by_stem(pred_dir or images_dir, "prediction" if pred_dir else "image")
    # pairs, not a dict: --json X --plot X are two writers of one file, which plan_outputs must see
    plan_outputs([(json_path, "--json"), (plot_path, "--plot")],
                 {**{p: "ground truth" for p in truths.values()}, **{p: "input" for p in sources.values()},
                  model["weights"]: "weights"}, overwrite=overwrite)
    summary, problems = score_folders(truths, sources, run_model=images_dir is not None, model=model, quiet=quiet)
    summary["label"] = label or describe_run(summary, pred_dir, images_dir)
    click.echo(table(summary))
    if json_path:
        write_atomically(json_path, lambda tmp: tmp.write_text(json.dumps(summary, indent=1) + "\n"),
                         overwrite=overwrite)
    if plot_path:
        write_atomically(plot_path, lambda tmp: plot_pr_curves({summary["label"]: summary}, tmp),
                         overwrite=overwrite)
    if problems:
        raise U2LiveError(f"{problems} of {len(truths)} ground truths could not be scored")


def describe_run(summary: dict, pred_dir: Path | None, images_dir: Path | None) -> str:
    return summary.get("model") or str(pred_dir or images_dir)


def score_folders(truths: dict[str, Path], sources: dict[str, Path], *, run_model: bool, model: dict,
                  quiet: bool) -> tuple[dict, int]:
    """The summary of every pair, and how many ground truths could not be scored (each said in one line)."""
    for stem in sorted(set(sources) - set(truths)):
        click.echo(f"u2live: note: no ground truth for {sources[stem]}; not scored", err=True)
    evaluation, problems, notes = Evaluation(), 0, []
    with ExitStack() as stack:
        net = None
        if run_model:
            net = stack.enter_context(load(**model))
        for stem, truth in progress_bar(truths.items(), total=len(truths), unit="img", disable=quiet):
            try:
                problems += not _score_one(evaluation, stem, truth, sources.get(stem), net, notes)
            except InputError as err:
                problems += 1
                click.echo(f"u2live: skipped: {err}", err=True)
    for note in notes:
        click.echo(f"u2live: note: {note}", err=True)
    if not evaluation.pairs:
        raise InputError("nothing to score: no ground truth has a readable partner")
    summary = evaluation.summary()
    if net is not None:
        summary["model"] = net.describe()
    return summary, problems


def _score_one(evaluation, stem: str, truth: Path, source: Path | None, net, notes: list[str]) -> bool:
    if source is None:
        click.echo(f"u2live: skipped: no prediction for {truth}", err=True)
        return False
    gt = read_gray(truth)
    pred = net.mask(source) if net is not None else read_gray(source)
    evaluation.add(stem, fit_to(pred, gt, stem, notes), gt)
    return True


eval = eval_command  # noqa: A001  (the CLI finds each command's function by the command's name)
