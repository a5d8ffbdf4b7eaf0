"""What the package knows about its models without loading torch: their names and where their weights are.

Kept apart from :mod:`u2live.model` and :mod:`u2live.weights` (which need torch) so that the CLI's options and the
``cpu`` backend's cached graphs can be found without importing torch (seconds of start-up on a small machine).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import WeightsError

#: a named model -> its architecture; rembg's ``u2net_human_seg`` is the full U2-Net trained on people; ``selfie`` is
#: Google MediaPipe's Selfie Segmentation, a small person model (:mod:`u2live.selfie_model`)
ARCHITECTURES = {"u2netp": "u2netp", "u2net": "u2net", "u2net_human_seg": "u2net", "selfie": "selfie"}
MODEL_NAMES = tuple(ARCHITECTURES)
#: ``--model auto``: the person model where a person is in the picture, U2-Net† elsewhere (:mod:`u2live.person`)
AUTO = "auto"
MODEL_CHOICES = (AUTO, *MODEL_NAMES)
#: the models trained to find people (``auto`` runs the first); the others find what stands out
PERSON_MODELS = ("selfie", "u2net_human_seg")
ASSETS = Path(__file__).parent / "assets"
BUNDLED = {"u2netp": ASSETS / "u2netp.pth", "selfie": ASSETS / "selfie.pth"}


class InputSpec:
    """What a network takes and gives: ``scheme`` "u2net" (the authors' preprocessing: divide by the image's
    maximum, ImageNet mean and std) or "unit" (RGB / 255, as MediaPipe feeds its models); square sides a multiple
    of ``multiple`` (the network's total stride); ``size`` where none is asked for (what it was trained at);
    ``edge``, the level of its mask at the subject's edge, which the masks it gives are mapped to 0.5 from (the
    refinement and the compositing cut at 0.5)."""

    def __init__(self, scheme: str, multiple: int, size: int, edge: float = 0.5):
        self.scheme, self.multiple, self.size, self.edge = scheme, multiple, size, edge


U2NET_INPUT = InputSpec("u2net", 32, 320)  # five 2x poolings
# the person model: four stride-2 stages, trained at 256x256; its probability falls to 0.3-0.5 over hair (tips of
# hair at 0.35 on Megamind frame 30 were cut at 0.5)
INPUTS = {"selfie": InputSpec("unit", 16, 256, edge=0.3)}


def input_spec(model: str) -> InputSpec:
    return INPUTS.get(model, U2NET_INPUT)
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
