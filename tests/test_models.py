"""The model zoo: every architecture builds and trains a step at small width, for 40 and 48 pixel inputs."""
import pytest
import torch

from perturb_lib.models import (ATTENTION_MODELS, MODELS, SpatialGate, build_model, count_parameters,
                                spatial_gates)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    model = build_model(name, width=0.0625)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(4, 1, 48, 48), torch.tensor([0, 1, 2, 3])
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert changed > 0.9 * len(before)  # gradients reach (nearly) every parameter
    model.eval()
    for size in (40, 48):
        assert model(torch.randn(2, 1, size, size)).shape == (2, 7)


def test_width_scales_parameters():
    assert count_parameters(build_model("vgg16", width=0.25)) < count_parameters(build_model("vgg16", width=0.5)) / 3


@pytest.mark.parametrize("name", ATTENTION_MODELS[:2] + ("dpn26",))
def test_attention_gate_output_flows_on(name):
    """The gate's product is what the next layer sees (the authors' code dropped it)."""
    torch.manual_seed(0)
    # train-mode BatchNorm (batch statistics) so an untrained narrow net still carries its input forward
    model = build_model(name, width=0.0625, attention=True, dropout=0.0).train()
    gates = spatial_gates(model)
    assert len(gates) >= 4
    x = torch.randn(4, 1, 48, 48)
    reference = model(x)
    assert not torch.allclose(reference[0], reference[1])  # the output depends on the input at all
    handle = gates[0].register_forward_hook(lambda m, i, out: out * 0.0)
    try:
        zeroed = model(x)
    finally:
        handle.remove()
    assert not torch.allclose(reference, zeroed)


def test_spatial_gate_multiplies_by_its_map():
    gate = SpatialGate().eval()
    gate.record = True
    x = torch.randn(3, 5, 8, 8)
    out = gate(x)
    assert gate.last_map.shape == (3, 1, 8, 8)
    assert ((gate.last_map > 0) & (gate.last_map < 1)).all()
    torch.testing.assert_close(out, x * gate.last_map)


def test_unknown_names_are_rejected_with_choices():
    with pytest.raises(ValueError, match="unknown model 'vgg19'; choose from vgg16"):
        build_model("vgg19")
    with pytest.raises(ValueError, match="no attention variant"):
        build_model("densenet121", attention=True)


def test_every_list_of_models_derives_from_the_zoo():
    """One registry: the builders, the attention and dropout variants and the paper's columns all come from
    params.MODEL_ZOO; the channels-last measurements name only models of the zoo."""
    from perturb_lib import params
    from perturb_lib.execution import CPU_CHANNELS_LAST_FROM
    from perturb_lib.paper import PAPER_COLUMNS, paper_column
    assert set(MODELS) == set(params.MODEL_ZOO) and params.MODELS == tuple(params.MODEL_ZOO)
    for name, info in params.MODEL_ZOO.items():
        assert paper_column(name) == info.paper_column and info.paper_column in PAPER_COLUMNS
        if not info.attention:
            with pytest.raises(ValueError, match="attention"):
                build_model(name, width=0.0625, attention=True)
    assert all(set(m) <= set(params.MODEL_ZOO) for m in CPU_CHANNELS_LAST_FROM.values())
