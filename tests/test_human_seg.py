"""``--model u2net_human_seg``: rembg's person model, the full U2-Net architecture, found in rembg's cache like the
others; a one-line hint when it is missing. We do not have rembg's file here (no network), so an ONNX export of our
own full U2-Net with random weights, placed under that name, proves the loading path and the architecture."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from u2live import backends, catalog, model
from u2live.backends.export import onnx_bytes

SIZE = 64


def test_the_person_model_is_the_full_architecture():
    assert "u2net_human_seg" in model.MODEL_NAMES
    person, full = model.build("u2net_human_seg"), model.build("u2net")
    assert {k: v.shape for k, v in person.state_dict().items()} == {k: v.shape for k, v in full.state_dict().items()}


def test_missing_weights_are_one_line_with_where_to_get_them(tmp_path, reference_dir):
    image = next((reference_dir / "test_images").iterdir())
    env = {**os.environ, "U2NET_HOME": str(tmp_path / "empty")}
    result = subprocess.run([sys.executable, "-m", "u2live", "segment", str(image), "--out-dir", str(tmp_path),
                             "--model", "u2net_human_seg", "--backend", "torch"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("u2live: error:"), result.stderr
    assert "u2net_human_seg.onnx" in lines[0] and "trained on people" in lines[0] and "--weights" in lines[0]
    assert str(tmp_path / "empty") in lines[0]


@pytest.mark.slow
def test_found_in_rembgs_cache_and_loaded_as_the_full_u2net(tmp_path, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    exported = model.FusedMask(model.fold_batchnorm(model.build("u2net"))).eval()
    path = tmp_path / "u2net_human_seg.onnx"
    path.write_bytes(onnx_bytes(exported, SIZE))  # ~176 MB of random weights in rembg's place
    monkeypatch.setattr(catalog, "REMBG_CACHE", tmp_path)
    x = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    with backends.create("torch", model="u2net_human_seg", size=SIZE, log=lambda s: None) as segmenter:
        got = segmenter.infer(x)  # through the default weights path: rembg's cache
        assert "u2net_human_seg" in segmenter.describe()
    assert np.abs(got - expected[:, 0]).max() <= 1e-4
