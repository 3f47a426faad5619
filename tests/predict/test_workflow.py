"""fit -> profile -> predict, and compare, on small real models with synthetic timings."""

import json

import numpy as np
import pandas as pd
import pytest

from costmodel.bench.calibrate import calibrate
from costmodel.bench.protocol import Protocol
from costmodel.bench.suites import nb201_sample
from costmodel.predict.features import FeatureCache, FeatureError, featurize
from costmodel.predict.profile import ProfileError, estimator_label, load_profile
from costmodel.predict.workflow import compare_predictors, fit_profile, load_training, predict_specs

SPECS = [
    "resnet?depth=18&width=0.5",
    "vgg?depth=11&width=0.5",
    "mobilenet?width=0.25",
    "mobilenetv2?width=0.35",
    "shufflenetv2?width=0.5",
    "squeezenet?width=0.5",
    "random:seed=1",
    "random:seed=2",
    "random:seed=3",
    "mobilenetv3?mode=small&width=0.5",
]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A timings folder of tiny real models: fake clock, fake per-op times that depend on the
    op (so an op-level model has something to learn), whole-model time = their sum + 1 ms."""
    out = tmp_path_factory.mktemp("board")

    def op_timer(fn):
        fn()
        return 20e-6

    calibrate(
        SPECS,
        out,
        board="fake",
        progress=False,
        op_timer=op_timer,
        protocol=Protocol(warmup=0, rounds=1, runs_per_round=1, group_size=10),
    )
    from costmodel.analysis import analyze

    timings = pd.read_csv(out / "timings.csv")
    ops = pd.read_csv(out / "ops.csv")
    macs = {s: analyze(s).nodes.set_index("name")["macs"] for s in SPECS}
    ops["latency_us"] = [
        2 + m / 1e4 for m in (macs[r.model].get(r.node, 0) for r in ops.itertuples())
    ]
    ops.to_csv(out / "ops.csv", index=False)
    sums = ops.groupby("model")["latency_us"].sum() / 1e3
    timings["latency_ms"] = timings["model"].map(sums) + 1.0
    timings.to_csv(out / "timings.csv", index=False)
    return out


def test_fit_save_load_predict(board, tmp_path):
    profile, data = fit_profile(board / "timings.csv", predictor="full")
    assert data.has_ops and len(data.X) == len(SPECS)
    path = profile.save(tmp_path / "fake.profile.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "costmodel-profile" and doc["version"] == 1
    # per-op times that are a launch cost plus a MAC rate: the additive fit is as good as
    # op-level, and the guard took the lower of the two it cross-validated
    guard = profile.describe()["guard"]
    assert "OpLevelPredictor" in guard["candidates"]
    used = doc["coefficients"]
    if used["estimator"] == "GeometricBlend":  # the node model blended with a whole-model fit
        assert used["parts"][0]["estimator"] == "OpLevelPredictor" and 0 < used["weight"] < 1
        used = used["parts"][1]
    assert used["estimator"] in guard["candidate"]
    assert estimator_label(doc["coefficients"]) == guard["candidate"]  # what fit and profiles print
    assert doc["board"]["board"] == "fake" and doc["calibration"]["models"] == len(SPECS)
    assert {"costmodel", "torch", "sklearn"} <= set(doc["versions"])
    loaded = load_profile(path)
    table, notes = predict_specs(loaded, ["resnet?depth=18&width=0.25", "vgg?depth=13&width=0.5"])
    assert (table["predicted_ms"] > 0).all() and (table["mac_only_ms"] > 0).all()
    assert (table["low_ms"] <= table["predicted_ms"]).all()
    parts = table.drop(
        columns=["predicted_ms", "low_ms", "high_ms", "mac_only_ms", "MMACs", "params_M"]
    )
    assert np.allclose(parts.sum(axis=1), table["predicted_ms"], rtol=1e-6)
    assert table.loc["vgg?depth=13&width=0.5", "convolution"] > 0


def test_profile_integrity_is_checked(board, tmp_path):
    profile, _ = fit_profile(board / "timings.csv", predictor="mac")
    path = profile.save(tmp_path / "p.profile.json")
    state = tmp_path / "p.profile.joblib"
    state.write_bytes(state.read_bytes() + b"tampered")
    with pytest.raises(ProfileError, match="checksum"):
        load_profile(path)
    doc = json.loads(path.read_text())
    doc["version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match="version 99"):
        load_profile(path)
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ProfileError, match="not a costmodel profile"):
        load_profile(path)


def test_too_few_models_is_a_clear_error(board, tmp_path):
    few = pd.read_csv(board / "timings.csv").head(2)
    few.to_csv(tmp_path / "timings.csv", index=False)
    with pytest.raises(ValueError, match="at least 3 calibration models"):
        fit_profile(tmp_path / "timings.csv", predictor="additive")
    fit_profile(tmp_path / "timings.csv", predictor="mac")  # 2 parameters: fine


def test_out_of_range_warnings(board):
    profile, _ = fit_profile(board / "timings.csv", predictor="full")
    _, notes = predict_specs(profile, ["vit?depth=4&dim=128&heads=4&pool=mean&sdpa=true"])
    assert any("not in the calibration set" in n and "attention" in n for n in notes)
    _, notes = predict_specs(profile, [SPECS[0]])
    assert not any("extrapolation" in n for n in notes)
    _, notes = predict_specs(profile, [SPECS[0]], input_shape=(8, 3, 32, 32))
    assert any("batch size 8 is outside the calibration (batch 1)" in n for n in notes)
    _, notes = predict_specs(profile, [SPECS[0]], input_shape=(1, 3, 64, 64))
    assert any("input shape 1x3x64x64 is not one" in n for n in notes)


def test_ops_never_run_in_calibration_are_named(board, tmp_path):
    profile, _ = fit_profile(board / "timings.csv", predictor="full")
    assert "aten.relu" in profile.calibration["ops"]["activation"]
    assert "aten.mish" not in profile.calibration["ops"]["activation"]
    _, notes = predict_specs(profile, ["fixtures_models:with_mish", "fixtures_models:tiny"])
    mish = [n for n in notes if n.startswith("fixtures_models:with_mish")]
    assert (
        len(mish) == 1
        and "ops never run by the calibration models: aten.mish (activation)" in mish[0]
    )
    tiny = [n for n in notes if n.startswith("fixtures_models:tiny:")]  # relu, pool: seen
    assert not any("ops never run" in n for n in tiny)
    path = profile.save(tmp_path / "p.profile.json")  # recorded in the profile, and read back
    _, notes = predict_specs(load_profile(path), ["fixtures_models:with_mish"])
    assert any("aten.mish (activation)" in n for n in notes)


def test_compare_lofo_on_the_same_splits(board):
    data = load_training(board / "timings.csv")
    scores, preds = compare_predictors(data, protocol="lofo")
    assert {"constant", "mac", "additive", "oplevel"} <= set(scores.index)
    assert preds[["mac", "oplevel"]].notna().all().all()
    assert scores.loc["oplevel", "MAPE"] < scores.loc["mac", "MAPE"]


def test_disconnected_rows_are_dropped(tmp_path):
    arch_on = (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
        + "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    )
    arch_off = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    frame = pd.DataFrame(
        {
            "model": [f"nb201:{arch_on}", f"nb201:{arch_off}"],
            "latency_ms": [10.0, 0.01],
            "output_connected": [True, False],
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_training(tmp_path / "t.csv")
    assert list(data.X.index) == [f"nb201:{arch_on}"] and len(data.dropped) == 1


def test_featurize_caches_and_reports_failures(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    specs = ["resnet?depth=18&width=0.5", "fixtures_models:broken"]
    with pytest.raises(FeatureError, match="always fails"):
        featurize(specs, cache=cache)
    calls = []
    import costmodel.predict.features as features

    original = features._analyze_one
    monkeypatch.setattr(features, "_analyze_one", lambda *a: calls.append(a[0]) or original(*a))
    again = featurize(specs, cache=cache, errors="skip")
    assert calls == ["fixtures_models:broken"]  # the good model came from the cache
    assert list(again.X.index) == specs[:1] and "always fails" in again.failures[specs[1]]


def test_shipped_profiles_by_name_and_the_default_prior(board, tmp_path, monkeypatch, capsys):
    """A board with few whole-model timings adapts the shipped profiles (the default prior);
    `costmodel profiles` lists them and `--profile NAME` finds one; a profile calibrated on
    one family only warns about another."""
    from costmodel.cli import main
    from costmodel.predict.profiles import default_prior, get_profile

    shipped = tmp_path / "profiles"
    monkeypatch.setenv("COSTMODEL_PROFILES", str(shipped))
    timings = pd.read_csv(board / "timings.csv")
    ref, _ = fit_profile(board / "timings.csv", predictor="full")
    ref.save(shipped / "fake.profile.json")
    nb = timings.assign(model=nb201_sample(len(timings)))
    nb.to_csv(tmp_path / "nb.csv", index=False)
    fit_profile(tmp_path / "nb.csv", predictor="mac")[0].save(shipped / "cells.profile.json")

    assert main(["profiles", "--format", "csv"]) == 0
    listed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(listed["name"]) == {"fake", "cells"} and "models" in listed.columns
    assert {s.name for s in default_prior().sources} == {"fake", "cells"}

    few = timings.head(6).assign(latency_ms=lambda d: 1.7 * d["latency_ms"])  # a slower board
    few.to_csv(tmp_path / "few.csv", index=False)
    adapted, _ = fit_profile(tmp_path / "few.csv", predictor="full")
    assert adapted.name == "full+prior" and "shipped multi-board prior" in adapted.notes[0]
    table, _ = predict_specs(adapted, ["resnet?depth=18&width=0.25"])
    assert table["predicted_ms"].iloc[0] > 0

    cells = get_profile("cells")
    _, notes = predict_specs(cells, ["resnet?depth=18&width=0.25"])
    assert any("nb201 only" in n for n in notes)
    with pytest.raises(Exception, match="cells, fake"):
        get_profile("nope")


@pytest.mark.parametrize("name", ["constant", "mac", "additive", "oplevel", "full"])
def test_every_registered_predictor_round_trips_through_a_profile(board, tmp_path, name):
    from costmodel.predict.registry import PREDICTORS

    assert name in PREDICTORS
    profile, data = fit_profile(board / "timings.csv", predictor=name)
    loaded = load_profile(profile.save(tmp_path / f"{name}.profile.json"))
    assert type(loaded.predictor) is PREDICTORS[name]
    assert np.allclose(loaded.predictor.predict(data.X), profile.predictor.predict(data.X))


def test_unknown_ops_are_stated_and_never_free(board, tmp_path):
    profile, _ = fit_profile(board / "timings.csv", predictor="full")
    specs = ["fixtures_models:with_unknown_op", "fixtures_models:tiny"]
    table, notes = predict_specs(profile, specs)
    assert list(table["unknown_ops"]) == [1, 0]
    [note] = [n for n in notes if "no formula" in n]
    assert "aten.special_bessel_j0" in note and "copies" in note
    assert table.loc[specs[0], "predicted_ms"] > table.loc[specs[1], "predicted_ms"]
    path = tmp_path / "p.profile.json"
    profile.save(path)
    from costmodel.cli import main

    for fmt in ("csv", "json", "table"):
        out = tmp_path / f"pred.{fmt}"
        argv = ["predict", *specs, "--profile", str(path), "--format", fmt, "-o", str(out)]
        assert main(argv) == 0
        assert ("unknown_ops" if fmt != "table" else "no formula") in out.read_text()


def test_a_profile_missing_keys_is_named(board, tmp_path):
    profile, _ = fit_profile(board / "timings.csv", predictor="mac")
    path = profile.save(tmp_path / "m.profile.json")
    doc = json.loads(path.read_text())
    del doc["state"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ProfileError, match="lacks the key.*refit"):
        load_profile(path)


def test_profiles_record_the_runtime_and_refuse_another(board, tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    profile, data = fit_profile(board / "timings.csv", predictor="mac", runtime="executorch")
    assert profile.runtime == data.runtime == "executorch"
    loaded = load_profile(profile.save(tmp_path / "et.profile.json"))
    assert loaded.runtime == "executorch"
    assert json.loads((tmp_path / "et.profile.json").read_text())["runtime"] == "executorch"
    table, _ = predict_specs(loaded, ["random:seed=4"])  # default: the profile's runtime
    assert len(table) == 1
    with pytest.raises(ValueError, match="fitted for runtime 'executorch', not 'onnxruntime'"):
        predict_specs(loaded, ["random:seed=4"], runtime="onnxruntime")


def test_the_runtime_defaults_to_the_boards_and_keys_the_features(board, tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "ort"
    folder.mkdir()
    (folder / "timings.csv").write_text((board / "timings.csv").read_text())
    meta = json.loads((board / "board.json").read_text())
    (folder / "board.json").write_text(json.dumps({**meta, "runtime": "onnxruntime"}))
    lowered = load_training(folder / "timings.csv")
    eager = load_training(folder / "timings.csv", runtime="eager")
    assert (lowered.runtime, eager.runtime) == ("onnxruntime", "eager")
    # batch norm folded, activations fused: fewer nodes, same MACs
    assert (lowered.X["nodes"] < eager.X["nodes"]).all()
    assert (lowered.X["macs"] == eager.X["macs"]).all()
    assert lowered.X["batchnorm_ops"].sum() == 0 < eager.X["batchnorm_ops"].sum()


def test_the_feature_cache_keys_a_lowering_by_its_rules(tmp_path, monkeypatch):
    from costmodel.analysis import rewrites

    cache = FeatureCache(tmp_path)
    before = cache._key("random:seed=1", None, False, None, "onnxruntime")
    assert before != cache._key("random:seed=1", None, False, None, "eager")
    monkeypatch.setitem(rewrites.RUNTIME_RULES, "onnxruntime", ("drop_free",))
    assert cache._key("random:seed=1", None, False, None, "onnxruntime") != before


def test_a_full_fit_that_is_mac_only_says_so(board, tmp_path):
    """Latencies that follow MACs exactly: the full predictor's guard keeps MAC-only, and the
    profile's notes say why, with the cross-validated errors."""
    from costmodel.analysis import analyze

    timings = pd.read_csv(board / "timings.csv")
    timings["latency_ms"] = [0.01 * analyze(s).totals["macs"] / 1e6 + 1.0 for s in timings["model"]]
    timings.to_csv(tmp_path / "timings.csv", index=False)  # no ops.csv: the additive candidate
    profile, _ = fit_profile(tmp_path / "timings.csv", predictor="full", use_default_prior=False)
    assert profile.predictor.kind_ == "MacPredictor" and not profile.predictor.guard_["kept"]
    assert any("the full predictor is MAC-only here" in n for n in profile.notes)
    assert profile.describe()["guard"]["candidate"] == "AdditivePredictor"
    assert estimator_label(profile.describe()) == "MacPredictor"


def test_a_prior_of_a_runtime_with_fallback_kernels_is_refused_for_another_runtime(board):
    """An ExecuTorch board's predictor prices the ops XNNPACK leaves to portable kernels as only
    ExecuTorch runs them: as the only source of a prior for an eager board it is refused, in one
    line naming the remedy; beside an eager source it is left out."""
    from costmodel.predict.estimators import MacPredictor
    from costmodel.predict.prior import MultiBoardPrior, PriorSource

    data = load_training(board / "timings.csv")
    source = MacPredictor().fit(data.X, data.y)
    et = PriorSource("et-board", source, runtime="executorch")
    with pytest.raises(ValueError, match="no prior for a board running eager.*choose a profile"):
        fit_profile(board / "timings.csv", predictor="full", prior=MultiBoardPrior([et]))
    with pytest.raises(ValueError, match="no prior for a board running eager"):
        compare_predictors(data, prior=MultiBoardPrior([et]))
    both = MultiBoardPrior([et, PriorSource("eager-board", source)])
    profile, _ = fit_profile(board / "timings.csv", predictor="full", prior=both)
    assert [s.name for s in profile.predictor.prior.sources] == ["eager-board"]
