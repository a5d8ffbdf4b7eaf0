"""``u2live build-engine``: compile the TensorRT engine ahead of time, so the first live run starts at once."""
from __future__ import annotations

from pathlib import Path

import click

from ..errors import BackendError
from ..options import DEFAULT_SIZE, model_options


@click.command("build-engine")
@model_options(only=("weights", "model", "size"))
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Frames per inference (offline video runs faster with 4-8).")
@click.option("--precision", type=click.Choice(["fp16", "fp32"]), default="fp16", show_default=True)
@click.option("--engine-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for engines (default: $U2LIVE_ENGINE_DIR, else engines/ of a source checkout, else "
                   "~/.cache/u2live/engines: where --backend tensorrt looks).")
@click.option("--force", is_flag=True, help="Rebuild even when a matching engine exists.")
def build_engine(weights, model, size, batch, precision, engine_dir, force):
    """Compile U2-Net with torch-tensorrt into a TensorRT engine (needs an NVIDIA GPU and u2live[tensorrt]).

    The engine's file name is a hash of the torch / torch-tensorrt / TensorRT versions, the GPU and its compute
    capability, the precision, size, batch and weights: an existing matching engine is reused, not rebuilt.
    """
    from ..backends import tensorrt  # here: `u2live build-engine --help` without torch

    size = DEFAULT_SIZE if size == "auto" else size  # checked by the option already
    reason = tensorrt.gpu_reason() or tensorrt.torch_tensorrt_missing_reason()
    if reason:
        raise BackendError(f"cannot build a TensorRT engine here: {reason}")
    import torch

    device = torch.device("cuda", torch.cuda.current_device())
    _, path = tensorrt.build_or_load(model=model, weights=weights, size=size, batch=batch, precision=precision,
                                     device=device, directory=engine_dir, rebuild=force)
    click.echo(str(path))
