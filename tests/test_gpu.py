"""GPU and TensorRT paths on a real NVIDIA GPU. Marked ``gpu`` / ``tensorrt``; elsewhere they skip with the reason
and what to do about it. Run on a GPU host: ``pytest -m "gpu or tensorrt" tests/test_gpu.py``."""
import numpy as np
import pytest
import torch

from u2live import backends
from u2live.backends import tensorrt
from u2live.backends.torch_cuda import cuda_unavailable_reason
from u2live.images import read_rgb
from u2live.preprocess import normalise_minmax, to_model_input

NO_GPU = cuda_unavailable_reason()
needs_gpu = pytest.mark.skipif(NO_GPU is not None, reason=f"needs an NVIDIA GPU: {NO_GPU}; run on a GPU host")
needs_trt = pytest.mark.skipif(NO_GPU is not None or tensorrt.gpu_reason() is not None
                               or tensorrt.torch_tensorrt_missing_reason() is not None,
                               reason=f"needs a GPU of capability >= 7.5 and torch-tensorrt: "
                                      f"{tensorrt.gpu_reason() or tensorrt.torch_tensorrt_missing_reason()}")


@pytest.fixture(scope="module")
def batch(reference_dir):
    images = sorted((reference_dir / "test_images").iterdir())[:5]
    return to_model_input([read_rgb(p) for p in images], 320)  # [5, 3, 320, 320]


@pytest.fixture(scope="module")
def fp32_masks(batch):
    with backends.create("torch", size=320) as eager:
        return normalise_minmax(eager.infer(batch))


@pytest.mark.gpu
@needs_gpu
def test_cuda_backend_matches_cpu_and_keeps_tensors_on_the_gpu(batch, fp32_masks):
    with backends.create("cuda", size=320) as segmenter:
        assert segmenter.device.type == "cuda"
        masks = segmenter.infer_tensor(torch.from_numpy(batch).to(segmenter.device))
        assert masks.device.type == "cuda" and masks.shape == (5, 320, 320)
        assert np.abs(normalise_minmax(masks.cpu().numpy()) - fp32_masks).mean() < 0.01
        frames = torch.zeros(3, 240, 320, 3, dtype=torch.uint8, device=segmenter.device)
        assert segmenter.predict_frames(frames).device.type == "cuda"
        assert set(segmenter.graphs) == {5}  # the 3-frame batch was padded into the 5-frame graph


@pytest.mark.gpu
@needs_gpu
def test_cuda_fp32_everywhere(batch, fp32_masks):
    with backends.create("cuda", size=320, precision="fp32") as segmenter:
        np.testing.assert_allclose(normalise_minmax(segmenter.infer(batch)), fp32_masks, atol=2e-3)


@pytest.mark.gpu
@pytest.mark.tensorrt
@needs_trt
def test_tensorrt_engine_is_built_once_and_reused(batch, fp32_masks, tmp_path, monkeypatch):
    monkeypatch.setenv("U2LIVE_ENGINE_DIR", str(tmp_path))
    lines = []
    with backends.create("tensorrt", size=320, log=lines.append) as segmenter:
        assert segmenter.precision == "fp16"
        masks = normalise_minmax(segmenter.infer(batch))
    assert any("building TensorRT engine" in line for line in lines)
    assert np.abs(masks - fp32_masks).mean() < 0.01
    lines.clear()
    with backends.create("tensorrt", size=320, log=lines.append):
        pass
    assert not any("building" in line for line in lines)  # the second start loads the engine


@pytest.mark.gpu
@needs_gpu
def test_gtx_policy_fp32_cuda_graph_matches_fp16(batch):
    """What a Pascal GTX 10xx gets (FP32, captured CUDA graph), forced on whatever GPU runs this, against FP16."""
    masks = {}
    for precision in ("fp32", "fp16"):
        with backends.create("cuda", size=320, precision=precision) as segmenter:
            masks[precision] = normalise_minmax(segmenter.infer(batch))
            assert set(segmenter.graphs) == {5}  # the graph path, not eager
    assert np.abs(masks["fp32"] - masks["fp16"]).mean() <= 0.005


@pytest.mark.gpu
@needs_gpu
def test_composite_on_the_gpu_matches_the_cpu(reference_dir):
    from u2live.backgrounds import parse_background
    from u2live.pipeline import Stages
    from u2live.stats import PipelineStats

    image = read_rgb(sorted((reference_dir / "test_images").iterdir())[0])
    mask = torch.rand(320, 320)
    outputs = []
    for device in ("cpu", "cuda"):  # numpy on the CPU's kernels, tensors on the GPU's
        stages = Stages(mode="composite", background=parse_background("blur"), device=device)
        frame, alpha = (image, mask.numpy()) if device == "cpu" else (torch.from_numpy(image).cuda(), mask.cuda())
        outputs.append(stages.render(frame, alpha, 0.0, PipelineStats()))
        stages.close()
    assert np.abs(outputs[0].astype(np.float32) - outputs[1].astype(np.float32)).mean() <= 2.0


@pytest.mark.gpu
@needs_gpu
def test_torch_temporal_state_on_the_gpu_follows_the_host_state(megamind):
    """The temporal state a GPU pipeline runs (u2live.temporal_torch), its masks on the GPU, against the host state,
    on real frames and masks: within tests/test_temporal_torch.py's tolerance."""
    import av

    from u2live.temporal import MotionSmoother
    from u2live.temporal_torch import TorchMotionSmoother

    with av.open(str(megamind)) as container:
        pictures = [f.to_ndarray(format="rgb24") for _, f in zip(range(24), container.decode(video=0))]
    with backends.create("cpu", model="u2netp", size=160, precision="int8", log=lambda line: None) as model:
        masks = model.predict_frames(torch.from_numpy(np.stack(pictures))).numpy()
    host, ours = MotionSmoother(), TorchMotionSmoother()
    ours.look_ahead(pictures)
    for i, (picture, mask) in enumerate(zip(pictures, masks)):
        expected = host.update(mask, i / 24, image=picture)
        held = ours.update(torch.from_numpy(mask).cuda(), i / 24, image=picture)
        assert held.device.type == "cuda"
        diff = np.abs(held.cpu().numpy() - expected)
        assert diff.mean() <= 0.001 and (diff > 0.05).mean() <= 0.005, (i, diff.mean())
    ours.close()
