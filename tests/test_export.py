"""Our own exported graphs: the ONNX file the cpu backend runs, and the TensorRT-bound torch.export program."""
import numpy as np
import onnx
import pytest
import torch

from u2live.backends import export
from u2live.backends.onnx_runtime import session
from u2live.images import read_rgb
from u2live.preprocess import to_model_input


# Graph inspection, for these tests only: what TensorRT's converter would reject (ceil-mode pooling).
def export_program(module: torch.nn.Module, example: torch.Tensor):
    return torch.export.export(module, (example,))


def ceil_mode_pools_program(program) -> list[str]:
    """Names of the max-pooling nodes of an exported program that use ceil mode."""
    return [node.name for node in program.graph.nodes if _is_max_pool(node) and
            (node.args[5] if len(node.args) > 5 else node.kwargs.get("ceil_mode", False))]


def pool_count_program(program) -> int:
    return sum(_is_max_pool(node) for node in program.graph.nodes)


def _is_max_pool(node) -> bool:
    return node.op == "call_function" and "max_pool2d" in str(node.target)


def ceil_mode_pools_onnx(model_proto) -> list[str]:
    """Names of the ONNX MaxPool nodes that use ceil mode."""
    return [node.name for node in model_proto.graph.node
            if node.op_type == "MaxPool" and any(a.name == "ceil_mode" and a.i for a in node.attribute)]


@pytest.fixture(scope="module")
def reference_batch(reference_dir):
    images = sorted((reference_dir / "test_images").iterdir())[:2]
    return torch.from_numpy(to_model_input([read_rgb(p) for p in images], 320))  # [2, 3, 320, 320]


def test_tensorrt_bound_program_has_no_ceil_mode_pooling():
    floor = export_program(export.fused_mask("u2netp", None, pool_ceil=False), torch.zeros(1, 3, 320, 320))
    assert pool_count_program(floor) == 33 and ceil_mode_pools_program(floor) == []
    ceil = export_program(export.fused_mask("u2netp", None), torch.zeros(1, 3, 64, 64))
    assert len(ceil_mode_pools_program(ceil)) == 33  # the check does see ceil mode when it is there


def test_tensorrt_bound_onnx_has_no_ceil_mode_pooling():
    graph = onnx.load_from_string(export.onnx_bytes(export.fused_mask("u2netp", None, pool_ceil=False), 64))
    assert sum(n.op_type == "MaxPool" for n in graph.graph.node) == 33
    assert ceil_mode_pools_onnx(graph) == []


def test_floor_and_ceil_pooling_are_identical_at_320(reference_batch):
    with torch.inference_mode():
        ceil = export.fused_mask("u2netp", None, pool_ceil=True)(reference_batch)
        floor = export.fused_mask("u2netp", None, pool_ceil=False)(reference_batch)
    assert torch.equal(ceil, floor)


def test_onnx_export_is_cached_and_matches_torch_and_the_official_graph(tmp_path, reference_batch, rembg_onnx):
    lines = []
    path, fields = export.cached_onnx("u2netp", None, 320, log=lines.append, directory=tmp_path)
    assert len(lines) == 2 and "exporting ONNX graph of u2netp at 320x320" in lines[0] and "ready in" in lines[1]
    assert path.name.startswith("u2netp-320-fp32-")
    assert export.cached_onnx("u2netp", None, 320, log=lines.append, directory=tmp_path)[0] == path
    assert len(lines) == 2  # the second run reuses the file
    ours = session(path).run(None, {"input": reference_batch.numpy()})[0]
    with torch.inference_mode():
        eager = export.fused_mask("u2netp", None)(reference_batch).numpy()
    official = session(rembg_onnx)
    theirs = np.concatenate([official.run(None, {official.get_inputs()[0].name: x[None]})[0]  # batch 1 only
                             for x in reference_batch.numpy()])
    # float32 through ~120 convolutions: kernels differ by CPU (1e-4 held on AVX-512; AVX2 measured 1.01e-4)
    assert np.abs(ours - eager).max() < 3e-4 and np.abs(ours - theirs).max() < 3e-4


def test_damaged_export_is_exported_again(tmp_path):
    path, _ = export.cached_onnx("u2netp", None, 64, log=lambda line: None, directory=tmp_path)
    path.write_bytes(b"not onnx")
    lines = []
    assert export.cached_onnx("u2netp", None, 64, log=lines.append, directory=tmp_path)[0] == path
    assert lines and onnx.load(str(path)).graph.node


def test_export_name_changes_with_weights_and_size(tmp_path):
    a = export.onnx_fields("u2netp", 320, export.fused_mask("u2netp", None))
    net = export.fused_mask("u2netp", None)
    with torch.no_grad():
        net.net.outconv.bias += 1
    assert export.onnx_fields("u2netp", 320, net) != a
    assert export.onnx_fields("u2netp", 256, export.fused_mask("u2netp", None)) != a
