"""The feature cache: plain JSON, keyed by content, and any unreadable entry is a miss."""

import os
import pickle
import textwrap
import warnings

import pandas as pd
import pytest

import costmodel.predict.cache as cache_module
from costmodel.predict.cache import CacheWarning, FeatureCache
from costmodel.predict.features import featurize

SPEC = "resnet?depth=18&width=0.25"


def test_the_foreign_pickle_is_what_broke_fresh_clones():
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(FOREIGN_PICKLE)


def test_tests_never_use_the_users_cache():
    assert os.environ["COSTMODEL_CACHE"] != os.path.expanduser("~/.cache/costmodel")
    assert FeatureCache().directory.parent == cache_module.default_cache_dir()


# What a pandas with pyarrow leaves behind: unpickling needs a module this venv does not have.
FOREIGN_PICKLE = b"cpyarrow_is_not_installed_here\nTable\n."


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00\xffnot json", b'{"format": 3, "key": "someone else"}', FOREIGN_PICKLE],
    ids=["empty", "binary", "foreign-key", "pickle-of-missing-module"],
)
def test_unreadable_entries_are_recomputed_with_one_warning(tmp_path, monkeypatch, garbage):
    cache = FeatureCache(tmp_path)
    expected = featurize([SPEC], cache=False).X
    path = cache._path(cache._key(SPEC, None, False, None))
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    monkeypatch.setattr(cache_module, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = featurize([SPEC], cache=cache).X
        featurize([SPEC + "&num_classes=10"], cache=FeatureCache(tmp_path))
    pd.testing.assert_frame_equal(got, expected)
    assert sum(issubclass(w.category, CacheWarning) for w in caught) == 1
    assert cache.get(SPEC, None, False) is not None  # rewritten, readable now


def test_entries_are_plain_json_and_round_trip(tmp_path):
    cache = FeatureCache(tmp_path)
    first = featurize([SPEC], cache=cache)
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 2 and all(f.read_text().startswith("{") for f in files)
    again = featurize([SPEC], cache=cache)
    pd.testing.assert_frame_equal(first.X, again.X)
    pd.testing.assert_frame_equal(first.nodes[SPEC], again.nodes[SPEC])


@pytest.mark.parametrize("runtime", ["eager", "tflite"])
def test_an_unreadable_node_table_is_recomputed_when_asked_for(tmp_path, monkeypatch, runtime):
    cache = FeatureCache(tmp_path)
    expected = featurize([SPEC], cache=cache, runtime=runtime).nodes[SPEC]
    key = cache._key(SPEC, None, False, None, runtime)
    cache._path(key, "nodes").write_bytes(FOREIGN_PICKLE)
    monkeypatch.setattr(cache_module, "_warned", False)
    with pytest.warns(CacheWarning):
        again = featurize([SPEC], cache=FeatureCache(tmp_path), runtime=runtime)
        pd.testing.assert_frame_equal(again.nodes[SPEC], expected)  # of the same runtime
    assert FeatureCache(tmp_path).get(SPEC, None, False, None, runtime)[1]() is not None


def test_editing_a_file_spec_is_a_cache_miss(tmp_path):
    source = """
        import torch.nn as nn

        def build():
            return nn.Sequential(nn.Conv2d(3, {width}, 3), nn.ReLU())
    """
    net = tmp_path / "net.py"
    spec = f"{net}:build"
    cache = FeatureCache(tmp_path / "cache")
    net.write_text(textwrap.dedent(source.format(width=4)))
    small = featurize([spec], cache=cache).X.loc[spec, "macs"]
    net.write_text(textwrap.dedent(source.format(width=8)))
    big = featurize([spec], cache=FeatureCache(tmp_path / "cache")).X.loc[spec, "macs"]
    assert big == 2 * small


def test_builtin_spec_keys_build_no_model(monkeypatch):
    import costmodel.zoo as zoo

    monkeypatch.setattr(zoo, "build", lambda *a, **k: pytest.fail("built a model for a key"))
    cache = FeatureCache()
    assert cache._key("nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", None, False, None)
