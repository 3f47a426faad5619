"""featurize(): an interrupted run keeps every chunk that finished; a rerun computes the rest."""

import pytest

import costmodel.predict.features as features
from costmodel.predict.cache import FeatureCache
from costmodel.predict.features import featurize

SPECS = ["random:seed=1", "random:seed=2", "random:seed=3", "random:seed=4"]


def test_an_interrupted_run_loses_no_finished_chunk(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    original, calls = features._analyze_one, []

    def interrupted_at_the_third(spec, *args):
        calls.append(spec)
        if spec == SPECS[2]:
            raise KeyboardInterrupt
        return original(spec, *args)

    monkeypatch.setattr(features, "_analyze_one", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        featurize(SPECS, cache=cache, chunk_size=1)
    assert [cache.get(s, None, False) is not None for s in SPECS] == [True, True, False, False]
    calls.clear()
    monkeypatch.setattr(features, "_analyze_one", lambda *a: calls.append(a[0]) or original(*a))
    done = featurize(SPECS, cache=cache, chunk_size=1)
    assert calls == SPECS[2:] and done.cached == 2 and list(done.X.index) == SPECS
