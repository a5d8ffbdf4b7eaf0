"""What the package knows about its models without loading torch: their names and where their weights are.

Kept apart from :mod:`u2live.model` and :mod:`u2live.weights` (which need torch) so that the CLI's options and the
``cpu`` backend's cached graphs can be found without importing torch (seconds of start-up on a small machine).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import WeightsError

#: a named model -> its architecture; rembg's ``u2net_human_seg`` is the full U2-Net trained on people
ARCHITECTURES = {"u2netp": "u2netp", "u2net": "u2net", "u2net_human_seg": "u2net"}
MODEL_NAMES = tuple(ARCHITECTURES)
ASSETS = Path(__file__).parent / "assets"
BUNDLED = {"u2netp": ASSETS / "u2netp.pth"}
REMBG_CACHE = Path(os.environ.get("U2NET_HOME") or Path.home() / ".u2net")  # rembg's own variable, then its default
# where to get the weights of a model we do not bundle, said in the one-line error when they are missing
WHERE_TO_GET = {
    "u2net": "pass --weights PATH to the authors' u2net.pth, or put rembg's u2net.onnx there",
    "u2net_human_seg": "put rembg's u2net_human_seg.onnx (the full U2-Net trained on people; rembg downloads it "
                       "there on first use of that model) there, or pass --weights PATH to it",
}


def default_weights_path(model: str) -> Path:
    """The bundled file (U2-Net† only), else rembg's cache ``$U2NET_HOME`` or ``~/.u2net/<model>.onnx``."""
    candidates = ([BUNDLED[model]] if model in BUNDLED else []) + [REMBG_CACHE / f"{model}.onnx"]
    for path in candidates:
        if path.is_file():
            return path
    where = WHERE_TO_GET.get(model, f"pass --weights PATH to the authors' {model}.pth or an ONNX export of it")
    raise WeightsError(f"no weights for {model} found (looked in {', '.join(map(str, candidates))}); {where}")
