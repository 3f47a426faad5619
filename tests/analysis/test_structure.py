"""structural_key: equal for equal structure, different for anything an analysis can see."""

import textwrap

import torch
import torch.nn as nn

from costmodel.analysis.structure import structural_key


def test_equal_structures_share_a_key_whatever_the_weights():
    a, b = nn.Conv2d(3, 8, 3), nn.Conv2d(3, 8, 3)
    with torch.no_grad():
        b.weight.zero_()
    assert structural_key(a) == structural_key(b)
    assert structural_key(nn.Conv2d(3, 8, 3, device="meta")) == structural_key(a)


def test_configuration_changes_the_key():
    # nn.MultiheadAttention's extra_repr is empty: the head count must still count
    assert nn.MultiheadAttention(16, 4).extra_repr() == ""
    assert structural_key(nn.MultiheadAttention(16, 1)) != structural_key(
        nn.MultiheadAttention(16, 4)
    )
    assert structural_key(nn.Conv2d(3, 8, 3)) != structural_key(nn.Conv2d(3, 8, 3, stride=2))
    assert structural_key(nn.Conv2d(3, 8, 3)) != structural_key(nn.Conv2d(3, 8, 3).half())
    assert structural_key(nn.Conv2d(3, 8, 3)) != structural_key(nn.Conv2d(3, 8, 3, bias=False))
    assert structural_key(nn.Upsample(scale_factor=2)) != structural_key(
        nn.Upsample(scale_factor=2, mode="bilinear")
    )
    assert structural_key(nn.Sequential(nn.ReLU(), nn.Tanh())) != structural_key(
        nn.Sequential(nn.Tanh(), nn.ReLU())
    )


def _load(path, name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_user_source_is_part_of_the_key(tmp_path):
    body = """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x){tail}
    """
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(body.format(tail="")))
    first = structural_key(_load(path, "net_v1").Net())
    path.write_text(textwrap.dedent(body.format(tail=" * 2")))
    second = structural_key(_load(path, "net_v2").Net())
    assert first != second


def test_the_key_reads_and_never_changes_the_module():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    attrs = [sorted(vars(x)) for x in m.modules()]
    assert structural_key(m) == structural_key(m)
    assert attrs == [sorted(vars(x)) for x in m.modules()]
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())
