import pytest
import torch

from u2live import model as model_mod


@pytest.mark.parametrize("name, params", [("u2netp", 1_131_181), ("u2net", 44_009_869)])
def test_parameter_counts_match_the_authors(name, params):
    net = model_mod.build(name)
    assert sum(p.numel() for p in net.parameters()) == params


def test_seven_sigmoid_outputs_at_input_size():
    net = model_mod.build("u2netp").eval()
    with torch.no_grad():
        outputs = net(torch.rand(1, 3, 96, 128))
    assert len(outputs) == 7
    for out in outputs:
        assert out.shape == (1, 1, 96, 128)
        assert 0.0 <= out.min() and out.max() <= 1.0


def test_folding_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    net = model_mod.build("u2netp")
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    folded = model_mod.fold_batchnorm(net)
    assert model_mod.is_folded(folded) and not model_mod.is_folded(net)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x)[0], net(x)[0], atol=1e-5, rtol=1e-4)


def test_floor_pooling_equals_ceil_pooling_on_multiples_of_32():
    ceil = model_mod.build("u2netp", pool_ceil=True).eval()
    floor = model_mod.build("u2netp", pool_ceil=False).eval()
    floor.load_state_dict(ceil.state_dict())
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        assert torch.equal(ceil(x)[0], floor(x)[0])


def test_fused_mask_returns_d0_only():
    net = model_mod.build("u2netp").eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model_mod.FusedMask(net)(x), net(x)[0])


def test_unknown_model_name():
    with pytest.raises(ValueError, match="u2netp"):
        model_mod.build("u3net")
