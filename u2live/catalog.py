"""What the package knows about its models without loading torch: their names and where their weights are.

Kept apart from :mod:`u2live.model` and :mod:`u2live.weights` (which need torch) so that the CLI's options and the
``cpu`` backend's cached graphs can be found without importing torch (seconds of start-up on a small machine).
"""
from __future__ import annotations

from pathlib import Path

from .errors import WeightsError

MODEL_NAMES = ("u2netp", "u2net")
ASSETS = Path(__file__).parent / "assets"
BUNDLED = {"u2netp": ASSETS / "u2netp.pth"}
REMBG_CACHE = Path.home() / ".u2net"


def default_weights_path(model: str) -> Path:
    """The bundled file (U2-Net† only), else rembg's cache ``~/.u2net/<model>.onnx``."""
    candidates = ([BUNDLED[model]] if model in BUNDLED else []) + [REMBG_CACHE / f"{model}.onnx"]
    for path in candidates:
        if path.is_file():
            return path
    raise WeightsError(
        f"no weights for {model} found (looked in {', '.join(map(str, candidates))}); "
        f"pass --weights PATH to the authors' {model}.pth or an ONNX export of it")
