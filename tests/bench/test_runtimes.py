"""Measurement runtimes: export, cache, run, board metadata, failures recorded, missing extras.

The runtime tests are skipped (with the reason) when the runtime's extra is not installed; the
test command installs the dev extra, which pulls both, so CI runs them."""

import dataclasses
import json

import pandas as pd
import pytest
import torch

from costmodel.bench import runtimes
from costmodel.bench.calibrate import calibrate, prepare_exports
from costmodel.bench.protocol import Protocol
from costmodel.bench.runtimes import RUNTIMES, RuntimeMissingError, get_runtime
from costmodel.bench.store import read_timings

FAST = Protocol(warmup=1, rounds=2, runs_per_round=2, group_size=3)
SPECS = ["fixtures_models:tiny", "fixtures_models:unexportable", "fixtures_models:broken"]
NEEDS = {"executorch": "executorch.runtime", "onnxruntime": "onnxruntime"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("name", ["executorch", "onnxruntime"])
def test_runtime_calibration_records_export_failures_and_goes_on(name, tmp_path, cache):
    pytest.importorskip(NEEDS[name], reason=f"pip install 'costmodel[{name}]'")
    out = tmp_path / name
    s = calibrate(SPECS, out, board="t", runtime=name, protocol=FAST, progress=False)
    assert (s.measured, s.failed) == (1, 2)
    frame = read_timings(out / "timings.csv", include_failed=True, check_models=False)
    rows = frame.set_index("model")
    assert rows.loc["fixtures_models:tiny", "latency_ms"] > 0
    assert "export failed" in rows.loc["fixtures_models:unexportable", "error"]
    assert "always fails" in rows.loc["fixtures_models:broken", "error"]
    # per-op rows of the model that ran: ONNX Runtime's own profiler, ExecuTorch's ETDump
    ops = pd.read_csv(out / "ops.csv")
    assert set(ops["model"]) == {"fixtures_models:tiny"}
    meta = json.loads((out / "board.json").read_text())
    assert meta["runtime"] == name and meta["runtime_version"] and meta["delegate"]
    assert meta["threads"] == 1
    # the export is cached: a forced rerun re-measures without exporting again
    exported = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert len(exported) == 2  # the artifact and the failed export's error
    calibrate(SPECS[:2], out, board="t", runtime=name, protocol=FAST, progress=False, force=True)
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == exported


@pytest.mark.parametrize("name,method", [("executorch", "etdump"), ("onnxruntime", "ort_profiler")])
def test_per_op_rows_come_from_the_runtimes_own_profiler_unless_per_op_is_off(
    name, method, tmp_path
):
    pytest.importorskip(NEEDS[name], reason=f"pip install 'costmodel[{name}]'")
    spec = "fixtures_models:tiny"
    calibrate([spec], tmp_path / "on", board="t", runtime=name, protocol=FAST, progress=False)
    ops = pd.read_csv(tmp_path / "on" / "ops.csv")
    assert set(ops["method"]) == {method} and set(ops["model"]) == {spec}
    assert "(between)" in set(ops["node"]) and len(ops) >= 3
    off = tmp_path / "off"
    calibrate([spec], off, board="t", runtime=name, protocol=FAST, progress=False, per_op=False)
    assert not (off / "ops.csv").exists()


@pytest.mark.parametrize("name", ["executorch", "onnxruntime"])
def test_exported_model_computes_what_eager_does(name):
    pytest.importorskip(NEEDS[name], reason=f"pip install 'costmodel[{name}]'")
    from fixtures_models import tiny

    model, x = tiny().eval(), torch.randn(1, 3, 32, 32)
    rt = get_runtime(name)
    out = rt.load(runtimes.prepare(rt, "fixtures_models:tiny", model, x), x, 1)()
    got = torch.as_tensor(out[0])
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-4)
    assert model.training is False and all(p.grad is None for p in model.parameters())


def test_prepare_only_exports_without_timing_and_prepared_only_measures_those(tmp_path):
    pytest.importorskip("onnxruntime", reason="pip install 'costmodel[onnxruntime]'")
    errors = prepare_exports(SPECS[:2], "onnxruntime", progress=False)
    assert list(errors) == ["fixtures_models:unexportable"]
    out = tmp_path / "ort"
    specs = [*SPECS[:2], "fixtures_models:tiny?width=8"]  # the last one is not exported yet
    s = calibrate(
        specs, out, board="t", runtime="onnxruntime", protocol=FAST, progress=False,
        prepared_only=True,
    )  # fmt: skip
    assert (s.measured, s.failed) == (1, 1)
    assert "fixtures_models:tiny?width=8" not in set(read_timings(out / "timings.csv")["model"])


def test_a_folder_refuses_a_mix_of_runtimes(tmp_path):
    calibrate(SPECS[:1], tmp_path, board="t", protocol=FAST, progress=False, per_op=False)
    assert json.loads((tmp_path / "board.json").read_text())["runtime"] == "eager"
    with pytest.raises(ValueError, match="runtime='eager', not 'onnxruntime'"):
        calibrate(SPECS[:1], tmp_path, board="t", runtime="onnxruntime", progress=False)


def test_a_missing_runtime_names_the_extra(monkeypatch):
    fake = dataclasses.replace(RUNTIMES["executorch"], packages=("no_such_package_xyz",))
    monkeypatch.setitem(RUNTIMES, "executorch", fake)
    with pytest.raises(RuntimeMissingError, match=r"pip install 'costmodel\[executorch\]'"):
        get_runtime("executorch")
    with pytest.raises(ValueError, match="unknown runtime 'tvm'"):
        get_runtime("tvm")
