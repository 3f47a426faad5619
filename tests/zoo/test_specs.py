"""Spec strings: parsing, canonical spelling, the nb201/random/import schemes, and bad specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import costmodel.zoo as zoo
from costmodel.zoo.specs import ModelSpec, parse

ARCH = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"

ROUND_TRIP = [
    "vit",
    "regnet?width=0.5",
    "regnet?width=0.5&depth=10&num_classes=10",
    "vit?sdpa=true&pool=mean&depth=2",
    "vit?mlp_ratio=1.5&dim=64&heads=2",
    "regnetx_200mf?width=0.75",
    "vit_tiny?sdpa=false",
    f"nb201:{ARCH}",
    f"nb201:{ARCH}?dataset=cifar100",
    "random:seed=17",
    "random:seed=3&max_mmacs=12.5&num_classes=10",
    "random:num_classes=10&seed=3",
    "torch.nn:Identity",
    "_spec_builders:tiny?width=8&act=gelu&bias=false",
]


@pytest.fixture(autouse=True)
def _helpers_on_path(monkeypatch):
    # the import specs name a helper module that lives next to this file
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


@pytest.mark.parametrize("spec", ROUND_TRIP)
def test_round_trip(spec):
    parsed = parse(spec)
    assert parse(parsed.canonical()) == parsed
    assert parse(parsed.canonical()).canonical() == parsed.canonical()
    assert str(parsed) == parsed.canonical()


def test_canonical_sorts_parameters_and_spells_values_one_way():
    a = parse("regnet?width=0.5&depth=10&num_classes=10")
    b = parse("regnet?num_classes=10&depth=10&width=0.50")
    assert a == b
    assert a.canonical() == b.canonical() == "regnet?depth=10&num_classes=10&width=0.5"
    assert parse("vit?sdpa=True&pool=mean").canonical() == "vit?pool=mean&sdpa=true"
    assert parse("  vit  ").canonical() == "vit"
    assert parse("random:seed=3&max_mmacs=12.5").canonical() == "random:max_mmacs=12.5&seed=3"


def test_value_types():
    p = parse("vit?depth=2&mlp_ratio=1.5&sdpa=true&pool=mean").params
    assert p == {"depth": 2, "mlp_ratio": 1.5, "sdpa": True, "pool": "mean"}
    assert type(p["depth"]) is int and type(p["mlp_ratio"]) is float
    assert type(p["sdpa"]) is bool and type(p["pool"]) is str
    assert parse("vit?mlp_ratio=3.0").params["mlp_ratio"] == 3.0
    assert type(parse("vit?mlp_ratio=3.0").params["mlp_ratio"]) is float
    assert parse("vit?sdpa=TRUE").params["sdpa"] is True


def test_parameters_equal_to_defaults_are_dropped():
    assert parse("vit?sdpa=false&mlp_ratio=2.0") == parse("vit")
    assert parse("resnet?depth=50").canonical() == "resnet"
    assert parse("random:attention=false&seed=3").canonical() == "random:seed=3"
    assert parse(f"nb201:{ARCH}?dataset=cifar10") == parse(f"nb201:{ARCH}")


def test_kinds_and_families():
    assert parse("vit") == ModelSpec("zoo", "vit", {})
    assert parse(f"nb201:{ARCH}?dataset=cifar100") == ModelSpec(
        "nb201", ARCH, {"dataset": "cifar100"}
    )
    assert parse("random:seed=17") == ModelSpec("random", "random", {"seed": 17})
    assert parse("torch.nn:Identity").kind == "import"
    assert zoo.family("vit_tiny") == "vit"
    assert zoo.family("regnety_200mf?width=0.5") == "regnet"
    assert zoo.family(f"nb201:{ARCH}") == "nb201"
    assert zoo.family("random:seed=1") == "random"
    assert zoo.family("_spec_builders:tiny") == "_spec_builders"


def test_aliases_fix_their_parameters():
    assert zoo.build("regnetx_400mf").stage_widths == [32, 64, 160, 384]
    with pytest.raises(ValueError, match="fixes"):
        parse("regnetx_400mf?depth=10")


def test_build_import_specs():
    model = zoo.build("_spec_builders:tiny?width=8&act=gelu&num_classes=3")
    assert not model.training
    assert model[0].out_channels == 8 and isinstance(model[1], torch.nn.GELU)
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 3)
    assert isinstance(zoo.build("torch.nn:Identity"), torch.nn.Identity)


def test_build_nb201_and_random_specs():
    assert zoo.build(f"nb201:{ARCH}?dataset=cifar100").classifier.out_features == 100
    assert zoo.build(f"nb201:{ARCH}").classifier.out_features == 10
    assert zoo.input_shape(f"nb201:{ARCH}", batch=4) == (4, 3, 32, 32)
    assert hasattr(zoo.build("random:seed=17"), "arch_description")


def test_unknown_name_suggests_close_names():
    with pytest.raises(KeyError, match="did you mean.*vit"):
        parse("vitt")
    with pytest.raises(KeyError, match="regnet"):
        parse("regnett?width=0.5")
    with pytest.raises(KeyError, match="unknown model"):
        parse("qqqqqq")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("vit?depth", "key=value"),
        ("vit?depth=", "key=value"),
        ("vit?=3", "key=value"),
        ("vit?depth=2&depth=3", "given twice"),
        ("vit?depthh=2", "no parameter"),
        ("random:seed=1&seed=2", "given twice"),
        ("random:seed", "key=value"),
        ("random:seed=1&colour=red", "unknown parameter"),
        ("random:", "seed"),
        (f"nb201:{ARCH}?dataset=mnist", "dataset"),
        (f"nb201:{ARCH}?width=2", "unknown parameter"),
        ("nb201:|nor_conv_3x3~0|", "expected 3"),
        (":tiny", "package.module:callable"),
        ("_spec_builders:", "package.module:callable"),
    ],
)
def test_malformed_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse(spec)


def test_parameter_value_with_colon_is_not_an_import_spec():
    assert parse("vit?pool=a:b") == ModelSpec("zoo", "vit", {"pool": "a:b"})
    with pytest.raises(ValueError, match="no parameter"):
        parse("vit?colour=a:b")


def test_unbuildable_import_specs():
    with pytest.raises(ImportError, match="cannot import module"):
        zoo.build("costmodel.zoo.no_such_module:build")
    with pytest.raises(AttributeError, match="no attribute"):
        zoo.build("_spec_builders:no_such_builder")
    with pytest.raises(TypeError, match="not an nn.Module"):
        zoo.build("_spec_builders:NOT_A_BUILDER")
    with pytest.raises(ValueError, match="raised TypeError"):
        zoo.build("_spec_builders:tiny?depth=3")  # the builder rejects the keyword


def test_non_string_spec():
    with pytest.raises(ValueError):
        parse(None)  # type: ignore[arg-type]


def test_one_canonical_form_per_model():
    forms = {parse(s).canonical() for s in ("resnet34", "resnet?depth=34", "resnet?depth=34.0")}
    assert forms == {"resnet?depth=34"}
    assert parse("resnet50").canonical() == parse("resnet?width=1").canonical() == "resnet"
    assert parse("efficientnet_b1").canonical() == "efficientnet?depth=1.1"
    assert parse("random:seed=3&max_mmacs=60").canonical() == "random:seed=3"
    assert zoo.build("resnet?depth=34.0").__class__ is zoo.build("resnet34").__class__


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mobilenetv2?width=0", "width=0 .*must be > 0"),
        ("resnet?width=-1", "must be > 0"),
        ("resnet?depth=34.5", "must be an integer"),
        ("resnet?depth=inf", "finite"),
        ("vit?sdpa=3", "true or false"),
        ("resnet?width=wide", "must be a number"),
        ("mobilenetv3?dropout=1", ">= 0 and < 1"),
        ("random:seed=1&max_mmacs=0", "must be > 0"),
    ],
)
def test_parameter_values_are_checked(spec, message):
    with pytest.raises(ValueError, match=message):
        parse(spec)


def test_a_depth_outside_the_allowed_set_is_a_clear_error():
    with pytest.raises(ValueError, match=r"one of \[18, 34, 50, 101, 152\]"):
        zoo.build("resnet?depth=35")
