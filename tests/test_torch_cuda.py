"""The ``cuda`` backend's decisions that a CPU can check: which GPUs a torch build can run, true FP32 (no TF32),
masks that never alias a CUDA graph's output buffer. The GPU itself is exercised by tests/test_gpu.py on a GPU host."""
import pytest
import torch

from u2live.backends.tensorrt import unsupported_release_reason
from u2live.backends.torch_cuda import TorchCUDASegmenter, masks_out, unsupported_arch_reason

CUDA13_ARCHS = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]


@pytest.mark.parametrize("cap, runs", [((6, 1), False), ((7, 0), False), ((7, 5), True), ((8, 9), True),
                                       ((9, 0), True), ((12, 1), True)])
def test_a_gpu_runs_only_on_a_build_with_its_architecture(cap, runs):
    reason = unsupported_arch_reason(cap, CUDA13_ARCHS, "GPU", "13.0")
    assert (reason is None) == runs
    if not runs:
        assert f"compute capability {cap[0]}.{cap[1]}" in reason and f"sm_{cap[0]}{cap[1]}" in reason


def test_pascal_runs_on_a_build_that_has_sm_61():
    assert unsupported_arch_reason((6, 1), ["sm_50", "sm_60", "sm_61", "sm_70"], "GTX 1080", "12.6") is None


def test_fp32_masks_are_a_copy_not_the_graph_buffer():
    output = torch.zeros(2, 1, 4, 4)  # stands for a CUDA graph's static output
    masks = masks_out(output, 1)
    output.fill_(1.0)  # the next replay
    assert masks.shape == (1, 4, 4) and masks.sum() == 0


def test_fp32_runs_without_tf32_and_restores_the_flags():
    segmenter = TorchCUDASegmenter(device="cpu", size=64, precision="fp32")
    seen = []
    segmenter.module.register_forward_hook(
        lambda *_: seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    segmenter.infer_tensor(torch.zeros(1, 3, 64, 64))
    assert seen == [(False, False)]
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


@pytest.mark.parametrize("version, supported", [("2.10.0", True), ("2.13.0+cu130", True), ("2.9.0", False),
                                                ("2.14.0", False), ("", False)])
def test_torch_tensorrt_releases_outside_the_written_range_are_one_line(version, supported):
    reason = unsupported_release_reason(version)
    assert (reason is None) == supported
    if not supported:
        assert "2.10 to 2.13" in reason and "\n" not in reason
