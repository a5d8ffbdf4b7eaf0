"""Engine naming, reuse and rebuild. TensorRT cannot run without an NVIDIA GPU, so the compile step is replaced at
the torch-tensorrt boundary (``tensorrt.import_torch_tensorrt``) by ``FakeTorchTensorRT``, which "compiles" the real
network into the shape torch-tensorrt produces (one ``_run_on_acc_0`` submodule) and saves/loads real exported
programs; everything around it (naming, cache, rebuild, padding) is our real code on CPU tensors."""
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from u2live.backends import engine_cache, tensorrt
from u2live.backends.tensorrt import TensorRTSegmenter
from u2live.errors import BackendError

SIZE = 64


class FakeTorchTensorRT(types.SimpleNamespace):
    """Stands in for the ``torch_tensorrt`` module: counts compiles; ``fallback`` leaves one op in PyTorch."""

    __version__ = "0.0-fake"

    def __init__(self, fallback: bool = False):
        super().__init__(compiles=0, fallback=fallback, compile_kwargs=None)

    def compile(self, module, *, ir, inputs, **kwargs):
        self.compiles += 1
        self.compile_kwargs = {"ir": ir, **kwargs}
        graph = torch.fx.Graph()
        x = graph.placeholder("x")
        out = graph.call_module("_run_on_acc_0", (x,))
        if self.fallback:
            out = graph.call_function(torch.sigmoid, (out,))
        graph.output(out)
        return torch.fx.GraphModule({"_run_on_acc_0": module}, graph)

    def save(self, compiled, path, *, output_format, arg_inputs):
        assert output_format == "exported_program"
        torch.export.save(torch.export.export(compiled, tuple(arg_inputs)), path)

    def load(self, path):
        return torch.export.load(path)


@pytest.fixture
def fake_tt(monkeypatch):
    fake = FakeTorchTensorRT()
    monkeypatch.setattr(tensorrt, "import_torch_tensorrt", lambda: fake)
    return fake


def fields(**changes):
    base = tensorrt.engine_fields(FakeTorchTensorRT(), model="u2netp", size=320, batch=1, precision="fp16",
                                  weights="abc", device=torch.device("cpu"))
    return {**base, **changes}


def test_engine_name_is_stable_and_changes_with_every_input(tmp_path):
    name = engine_cache.artefact_path(tmp_path, "e", fields(), ".ep")
    assert engine_cache.artefact_path(tmp_path, "e", fields(), ".ep") == name
    changes = {"torch": "9.9", "torch_tensorrt": "9.9", "tensorrt": "11.0", "gpu": "NVIDIA GeForce GTX 1660",
               "capability": "8.6", "dtype": "fp32", "size": 256, "batch": 4, "weights": "def", "model": "u2net"}
    assert set(changes) <= set(fields())
    names = {key: engine_cache.artefact_path(tmp_path, "e", fields(**{key: value}), ".ep")
             for key, value in changes.items()}
    assert name not in names.values() and len(set(names.values())) == len(changes)


def test_weights_hash_follows_the_values():
    net = torch.nn.Conv2d(3, 4, 3)
    before = engine_cache.weights_hash(net)
    assert engine_cache.weights_hash(net) == before
    with torch.no_grad():
        net.weight[0, 0, 0, 0] += 1e-3
    assert engine_cache.weights_hash(net) != before


def test_engine_is_built_once_reused_and_rebuilt_when_corrupt(fake_tt, tmp_path):
    lines = []
    engine, path = tensorrt.build_or_load(model="u2netp", weights=None, size=SIZE, batch=1, precision="fp32",
                                          device=torch.device("cpu"), directory=tmp_path, log=lines.append)
    assert fake_tt.compiles == 1 and path.is_file() and path.parent == tmp_path and path.suffix == ".pt2"
    assert fake_tt.compile_kwargs == {"ir": "dynamo", "min_block_size": 1, "require_full_compilation": True}
    assert len(lines) == 2 and lines[0].startswith("u2live: building TensorRT engine")
    assert lines[1].startswith("u2live: TensorRT engine ready in ")  # how long it took
    _, again = tensorrt.build_or_load(model="u2netp", weights=None, size=SIZE, batch=1, precision="fp32",
                                      device=torch.device("cpu"), directory=tmp_path, log=lines.append)
    assert again == path and fake_tt.compiles == 1 and len(lines) == 2  # a second start reuses it silently
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as after a crash or a full disk
    engine, _ = tensorrt.build_or_load(model="u2netp", weights=None, size=SIZE, batch=1, precision="fp32",
                                       device=torch.device("cpu"), directory=tmp_path, log=lines.append)
    assert fake_tt.compiles == 2 and "cannot be loaded" in lines[-2] and "rebuilding" in lines[-2]
    assert engine(torch.zeros(1, 3, SIZE, SIZE)).shape == (1, 1, SIZE, SIZE)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left behind


def test_engine_is_built_with_floor_pooling(fake_tt, tmp_path, monkeypatch):
    seen = []
    real = tensorrt.compile_engine
    monkeypatch.setattr(tensorrt, "compile_engine", lambda tt, module, example: seen.append(module) or
                        real(tt, module, example))
    tensorrt.build_or_load(model="u2netp", weights=None, size=SIZE, batch=2, precision="fp32",
                           device=torch.device("cpu"), directory=tmp_path, log=lambda line: None)
    pools = [m for m in seen[0].modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 33 and not any(p.ceil_mode for p in pools)


def test_a_graph_break_is_an_error_not_a_slow_engine(monkeypatch, tmp_path):
    monkeypatch.setattr(tensorrt, "import_torch_tensorrt", lambda: FakeTorchTensorRT(fallback=True))
    with pytest.raises(BackendError, match="did not convert the whole graph: 1 part"):
        tensorrt.build_or_load(model="u2netp", weights=None, size=SIZE, batch=1, precision="fp32",
                               device=torch.device("cpu"), directory=tmp_path, log=lambda line: None)
    assert not list(tmp_path.iterdir())


def test_segmenter_pads_a_short_batch_to_the_engine_it_has(fake_tt, tmp_path):
    segmenter = TensorRTSegmenter(device="cpu", precision="fp32", size=SIZE, batch=4, directory=tmp_path,
                                  log=lambda line: None)
    batch = np.random.default_rng(0).standard_normal((3, 3, SIZE, SIZE)).astype(np.float32)
    masks = segmenter.infer(batch)
    assert masks.shape == (3, SIZE, SIZE) and fake_tt.compiles == 1  # 3 frames ran on the batch-4 engine
    alone = segmenter.infer(batch[:1])
    np.testing.assert_allclose(alone[0], masks[0], atol=1e-5)
    assert "TensorRT engine" in segmenter.describe()


def test_default_engine_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("U2LIVE_ENGINE_DIR", raising=False)
    # run from this source checkout: the project's engines/ folder
    assert tensorrt.engine_dir() == tensorrt.CHECKOUT_ENGINES
    assert tensorrt.CHECKOUT_ENGINES.parent / "u2live" / "backends" / "tensorrt.py" == Path(tensorrt.__file__)
    # an installed package: u2live's cache folder, shared by every working directory
    monkeypatch.setattr(tensorrt, "CHECKOUT_ENGINES", tmp_path / "site-packages" / "engines")
    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path))
    assert tensorrt.engine_dir() == tmp_path / "engines"
    monkeypatch.setenv("U2LIVE_ENGINE_DIR", str(tmp_path / "mine"))
    assert tensorrt.engine_dir() == tmp_path / "mine"
