"""The backend registry on a CPU-only machine: what auto picks and why, precision rules, the cpu engine's masks."""
import logging

import numpy as np
import pytest
import torch

from u2live import backends
from u2live.backends import tensorrt
from u2live.backends.torch_cuda import TorchCUDASegmenter, padded_batch
from u2live.errors import BackendError
from u2live.images import read_rgb
from u2live.preprocess import to_model_input

CPU_ONLY = not torch.cuda.is_available()


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path_factory.getbasetemp() / "u2live-cache"))


@pytest.fixture(scope="module")
def batch(reference_dir):
    images = sorted((reference_dir / "test_images").iterdir())[:3]
    return to_model_input([read_rgb(p) for p in images], 320)  # [3, 3, 320, 320]


def test_registry_and_auto_order():
    assert {"cpu", "cuda", "tensorrt", "torch"} <= set(backends.BACKENDS)
    assert backends.AUTO_ORDER[:3] == ["tensorrt", "cuda", "cpu"] and backends.AUTO_ORDER[-1] == "torch"
    assert backends.backend_choices()[0] == "auto"


@pytest.mark.skipif(not CPU_ONLY, reason="checks the choice on a machine without a CUDA GPU")
def test_auto_on_a_cpu_only_machine_picks_cpu_and_says_why(caplog):
    caplog.set_level(logging.DEBUG, logger="u2live")  # -v: without it, a machine with no NVIDIA driver is not told why
    lines = []
    with backends.create("auto", size=64, log=lines.append) as segmenter:
        assert segmenter.name == "cpu" and segmenter.precision == "fp32"
    picked = [line for line in lines if "backend auto" in line]
    assert len(picked) == 1 and picked[0].startswith("u2live: backend auto -> cpu (tensorrt: ")
    assert "; cuda: " in picked[0] and "CUDA" in picked[0]


@pytest.mark.skipif(not CPU_ONLY, reason="checks the refusal on a machine without a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_gpu_backends_refuse_in_one_line(name):
    with pytest.raises(BackendError, match=f"backend {name} is not usable here: .*CUDA") as err:
        backends.create(name, size=64)
    assert "\n" not in str(err.value)


def test_missing_torch_tensorrt_is_one_actionable_line(monkeypatch):
    pytest.importorskip("torch", reason="always there")
    if tensorrt.torch_tensorrt_missing_reason() is None:
        pytest.skip("torch-tensorrt is installed here")
    monkeypatch.setattr(tensorrt, "gpu_reason", lambda: None)  # fake GPU: only torch-tensorrt is missing
    assert tensorrt.TensorRTSegmenter.unavailable_reason() == 'torch-tensorrt is not installed: pip install "u2live[tensorrt]"'
    with pytest.raises(BackendError, match=r'pip install "u2live\[tensorrt\]"'):
        tensorrt.import_torch_tensorrt()
    from click.testing import CliRunner

    from u2live.commands.build_engine import build_engine

    result = CliRunner().invoke(build_engine, ["--size", "64"])
    assert isinstance(result.exception, BackendError)
    assert str(result.exception) == ('cannot build a TensorRT engine here: torch-tensorrt is not installed: '
                                     'pip install "u2live[tensorrt]"')


@pytest.mark.parametrize("name, precision, expected", [
    ("cpu", "fp16", "backend cpu runs fp32 or int8, got --precision fp16"),
    ("torch", "int8", "backend torch runs fp32 only, got --precision int8"),
])
def test_unsupported_precision_is_one_line(name, precision, expected):
    with pytest.raises(BackendError) as err:
        backends.create(name, size=64, precision=precision)
    assert str(err.value) == expected


def test_cuda_backend_code_on_cpu_tensors_matches_torch(batch):
    """The cuda backend's model path (channels_last, dtype, output slicing) run eagerly on CPU tensors."""
    with pytest.raises(BackendError, match="backend cuda runs fp32 or fp16, got --precision int8"):
        TorchCUDASegmenter(device="cpu", precision="int8", size=320)
    cuda_code = TorchCUDASegmenter(device="cpu", size=320)
    assert cuda_code.precision == "fp32" and cuda_code.device.type == "cpu"  # no FP16 default without capability 7.5
    reference = backends.create("torch", size=320)
    got = cuda_code.infer_tensor(torch.from_numpy(batch))
    assert got.shape == (3, 320, 320) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), reference.infer(batch), atol=1e-4)


def test_padded_batch():
    assert padded_batch(3, set()) == 3
    assert padded_batch(3, {1, 4, 8}) == 4
    assert padded_batch(8, {1, 4, 8}) == 8
    assert padded_batch(9, {1, 4, 8}) == 9


def test_cpu_backend_matches_torch_reference(batch):
    with backends.create("cpu", size=320) as cpu, backends.create("torch", size=320) as eager:
        assert "onnxruntime" in cpu.describe()
        # two runtimes through ~120 float32 convolutions: 5.5e-5 measured on AVX-512, 1.0e-4 for the same pair on
        # AVX2 (tests/test_export.py); 3e-4 is 1/13 of one 8-bit gray level (benchmarks/results/tolerances.md)
        np.testing.assert_allclose(cpu.infer(batch), eager.infer(batch), atol=3e-4)
        frames = torch.from_numpy(np.stack([np.full((90, 120, 3), 200, np.uint8)] * 2))  # [2, H, W, 3]
        assert cpu.predict_frames(frames).shape == (2, 320, 320)


@pytest.mark.parametrize("size", [256, 192])
def test_smaller_sizes_run_on_the_cpu_backend(reference_dir, size):
    image = read_rgb(sorted((reference_dir / "test_images").iterdir())[0])
    with backends.create("cpu", size=size) as segmenter:
        mask = segmenter.predict([image])
    assert mask.shape == (1, size, size) and 0.0 <= mask.min() and mask.max() <= 1.0 and mask.max() > 0.5


def test_ctrl_c_while_onnxruntime_loads_is_an_interrupt_not_a_missing_backend(monkeypatch):
    """Interrupted while its C extension initialises, onnxruntime's import fails with pybind11's ImportError
    "initialization failed" raised from the KeyboardInterrupt; auto took that for "not installed" and went on to
    the torch backend, and the Ctrl-C was lost (the run went to its end). Now the interrupt goes on."""
    import builtins
    import sys

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "onnxruntime":
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as err:
                raise ImportError("initialization failed") from err
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    with pytest.raises(KeyboardInterrupt):
        backends.create("auto", size=320, log=lambda line: None)


def test_a_plain_import_error_is_still_not_installed(monkeypatch):
    import builtins
    import sys

    from u2live.backends.onnx_runtime import OnnxRuntimeSegmenter

    real_import = builtins.__import__

    def missing(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", missing)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    assert "onnxruntime is not installed" in OnnxRuntimeSegmenter.unavailable_reason()
