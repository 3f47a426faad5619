"""Vision Transformer family: variants, tracing, explicit vs SDPA attention equivalence."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F

import costmodel.zoo as zoo
from costmodel.zoo.registry import resolve_name
from costmodel.zoo.vit import vit

ENTRY = resolve_name("vit")[0]
VARIANT_SPECS = [zoo.ModelSpec("zoo", "vit", dict(v)).canonical() for v in ENTRY.variants]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_params(depth, dim, patch, mlp_ratio, pool, num_classes, img_size=32):
    hidden = int(dim * mlp_ratio)
    tokens = (img_size // patch) ** 2 + (pool == "cls")
    block = 4 * (dim * dim + dim) + 2 * dim * hidden + hidden + dim + 2 * 2 * dim
    embed = 3 * patch * patch * dim + dim + tokens * dim
    return embed + depth * block + 2 * dim + dim * num_classes + num_classes


def test_family_has_both_attention_forms_and_pools():
    kinds = {
        (bool({**ENTRY.defaults, **v}["sdpa"]), {**ENTRY.defaults, **v}["pool"])
        for v in ENTRY.variants
    }
    assert {sdpa for sdpa, _ in kinds} == {True, False}
    assert {pool for _, pool in kinds} == {"cls", "mean"}
    assert len(ENTRY.variants) >= 4


@pytest.mark.parametrize("spec", VARIANT_SPECS)
def test_variant_builds_traces_and_param_count(spec):
    model = zoo.build(spec)
    kw = {**ENTRY.defaults, **zoo.parse(spec).params}
    assert n_params(model) == expected_params(
        kw["depth"], kw["dim"], kw["patch"], kw["mlp_ratio"], kw["pool"], kw["num_classes"]
    )
    graph = torch.fx.symbolic_trace(model).graph
    targets = {n.target for n in graph.nodes if n.op == "call_function"}
    if kw["sdpa"]:
        assert F.scaled_dot_product_attention in targets
        assert torch.matmul not in targets
    else:
        assert torch.matmul in targets and F.softmax in targets
        assert F.scaled_dot_product_attention not in targets


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_explicit_and_sdpa_attention_agree(pool):
    torch.manual_seed(0)
    explicit = vit(depth=2, dim=64, heads=4, sdpa=False, pool=pool).eval()
    fused = vit(depth=2, dim=64, heads=4, sdpa=True, pool=pool).eval()
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(explicit(x), fused(x), rtol=1e-4, atol=1e-5)


def test_traced_module_matches_eager_with_batch_2():
    torch.manual_seed(0)
    model = vit(depth=1, dim=32, heads=2).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x))


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="divisible by heads"):
        vit(dim=100, heads=3)
    with pytest.raises(ValueError, match="patch"):
        vit(patch=5)
    with pytest.raises(ValueError, match="pool"):
        vit(pool="max")


def test_train_mode_after_build_and_forward_small_variant():
    assert vit().training
    model = zoo.build("vit?depth=4&dim=128&heads=4&sdpa=true&pool=mean&num_classes=10")
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 10)
