import hashlib

import numpy as np
import pytest
import torch

from u2live import model as model_mod
from u2live import weights
from u2live.errors import WeightsError


@pytest.fixture(scope="module")
def bundled():
    return weights.load("u2netp")


def test_rembg_file_is_the_one_named_in_the_design(rembg_onnx):
    assert hashlib.md5(rembg_onnx.read_bytes()).hexdigest() == weights.SOURCE_ONNX_MD5


def test_onnx_import_agrees_with_onnx_runtime(rembg_onnx):
    ort = pytest.importorskip("onnxruntime")
    net = weights.import_onnx(rembg_onnx, "u2netp")
    x = np.random.default_rng(0).standard_normal((1, 3, 320, 320), dtype=np.float32)
    session = ort.InferenceSession(str(rembg_onnx), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        got = net(torch.from_numpy(x))
    for ours, theirs in zip(got, expected):
        assert np.abs(ours.numpy() - theirs).max() <= 1e-4


def test_bundled_weights_are_our_import_of_the_rembg_file(rembg_onnx, bundled):
    imported = weights.import_onnx(rembg_onnx, "u2netp")
    for key, value in imported.state_dict().items():
        assert torch.equal(value, bundled.state_dict()[key]), key
    assert sum(p.numel() for p in bundled.parameters()) == 1_125_485


def test_official_checkpoint_layout_loads_strict(tmp_path, bundled):
    # The authors' u2netp.pth has unfolded BN and their key names: rebuild one from our folded weights.
    official = model_mod.unfold_batchnorm(bundled)
    assert any(k.endswith("bn_s1.running_var") for k in official.state_dict())
    reference = model_mod.build("u2netp")
    reference.load_state_dict(official.state_dict(), strict=True)
    path = tmp_path / "u2netp.pth"
    torch.save(official.state_dict(), path)
    loaded = weights.load("u2netp", path)
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], bundled(x)[0], atol=1e-5, rtol=1e-4)


def test_dataparallel_prefix_is_accepted(tmp_path, bundled):
    path = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in model_mod.unfold_batchnorm(bundled).state_dict().items()}, path)
    weights.load("u2netp", path)


def test_damaged_bundled_file_is_refused(tmp_path, monkeypatch):
    damaged = tmp_path / "u2netp.pth"
    damaged.write_bytes(weights.BUNDLED["u2netp"].read_bytes()[:-10] + b"0123456789")
    monkeypatch.setitem(weights.BUNDLED, "u2netp", damaged)
    with pytest.raises(WeightsError, match="damaged"):
        weights.load("u2netp")


def test_not_weights(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch weights file"):
        weights.load("u2netp", junk)
    fake_onnx = tmp_path / "junk.onnx"
    fake_onnx.write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError):
        weights.load("u2netp", fake_onnx)


def test_wrong_shapes_name_the_tensor(tmp_path):
    path = tmp_path / "u2net_like.pth"
    torch.save(model_mod.build("u2net").state_dict(), path)
    with pytest.raises(WeightsError, match=r"does not fit u2netp: .* wrongly shaped .*--model"):
        weights.load("u2netp", path)


def test_missing_file_and_unknown_model(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        weights.load("u2netp", tmp_path / "absent.pth")
    with pytest.raises(WeightsError, match="unknown model"):
        weights.load("u3net")
