"""The command line: each subcommand end to end, and errors that say what went wrong."""

import json

import pandas as pd
import pytest

from costmodel.cli import main

NETS_PY = """
import torch.nn as nn


def build_net(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Flatten())
"""


def test_analyze_category_table(capsys):
    assert main(["analyze", "mobilenetv2?width=0.35"]) == 0
    out = capsys.readouterr().out
    assert "conv_depthwise" in out and "MMACs" in out and "module calls" in out


def test_analyze_nodes_as_csv_and_json(tmp_path, capsys):
    csv = tmp_path / "nodes.csv"
    assert (
        main(
            ["analyze", "shufflenetv2?width=0.5", "--by", "node", "--format", "csv", "-o", str(csv)]
        )
        == 0
    )
    nodes = pd.read_csv(csv)
    assert {"name", "category", "macs", "bytes_written", "groups"} <= set(nodes.columns)
    assert (nodes["category"] == "shuffle").any()
    assert main(["analyze", "vgg?depth=11&width=0.5", "--format", "json", "--by", "module"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["totals"]["macs"] > 0 and payload["unknown_ops"] == []


def test_analyze_a_callable_from_a_file_with_an_input_shape(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(NETS_PY)
    spec = f"{tmp_path / 'nets.py'}:build_net?width=8"
    assert main(["analyze", spec, "--input-shape", "1,3,10,10", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["macs"] == 8 * 8 * 8 * 27


def test_analyze_for_a_runtime_lists_where_each_row_came_from(capsys):
    argv = ["analyze", "resnet?depth=18&width=0.5", "--by", "node", "--format", "csv"]
    assert main([*argv, "--runtime", "executorch"]) == 0
    nodes = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert "batchnorm" not in set(nodes["category"])
    assert nodes["sources"].str.contains(",").any()  # conv rows absorbed their BN and ReLU


def test_models_lists_specs_and_families(capsys):
    assert main(["models", "--family", "mobilenetv2", "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(table["family"]) == {"mobilenetv2"} and len(table) >= 4


def test_demo_on_a_reduced_model_set(capsys):
    assert (
        main(
            [
                "demo",
                "--static",
                "--model",
                "shufflenet?width=0.5",
                "--model",
                "resnet18",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out), index_col=0)
    assert list(table.index) == ["shufflenet?width=0.5", "resnet18"]
    assert table.loc["shufflenet?width=0.5", "ops_shuffle"] > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "mobilenetv9"], "did you mean"),
        (["analyze", "resnet?depth"], "key=value"),
        (["analyze", "no_such_pkg.nets:build"], "cannot import module"),
        (["analyze", "resnet18", "--input-shape", "1,5,32,32"], "input shape"),
        (["models", "--family", "nope"], "unknown family"),
    ],
)
def test_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_shape_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "resnet18", "--input-shape", "1,a,3"])
    assert "bad shape" in capsys.readouterr().err


def test_demo_quick_produces_every_table_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MAC-only" in text and "MAPE" in text and "full_err" in text
    for name in (
        "study_predictions.csv",
        "study_static.csv",
        "study_scores.csv",
        "macs_vs_latency.png",
        "time_share_vs_mac_share.png",
        "predicted_vs_measured.png",
        "timings/timings.csv",
        "timings/ops.csv",
        "study_breakdown.csv",
    ):
        assert (out / name).exists(), name
    table = pd.read_csv(out / "study_predictions.csv", index_col=0)
    assert len(table) == 3 and (table[["measured_ms", "mac_only_ms", "full_ms"]] > 0).all().all()


def test_fit_predict_compare_round_trip(tmp_path, capsys):
    """On a synthetic timings file (latency ~ a made-up function of the analysis)."""
    import costmodel

    specs = [
        "mobilenet?width=0.25",
        "mobilenetv2?width=0.35",
        "shufflenetv2?width=0.5",
        "squeezenet?width=0.5",
        "resnet?depth=18&width=0.5",
        "vgg?depth=11&width=0.5",
        "random:seed=1",
        "random:seed=2",
        "random:seed=3",
        "regnet?width=0.5",
    ]
    rows = []
    for s in specs:
        t = costmodel.analyze(s).totals
        rows.append({"model": s, "latency_ms": 1 + t["macs"] / 5e7 + t["module_calls"] / 50})
    pd.DataFrame(rows).to_csv(tmp_path / "timings.csv", index=False)
    profile = tmp_path / "b.profile.json"
    assert (
        main(["fit", str(tmp_path / "timings.csv"), "--predictor", "additive", "-o", str(profile)])
        == 0
    )
    assert profile.exists() and (tmp_path / "b.profile.joblib").exists()
    pd.DataFrame({"model": ["resnet18", "mobilenetv2?width=0.5"]}).to_csv(
        tmp_path / "candidates.csv", index=False
    )
    assert (
        main(
            [
                "predict",
                str(tmp_path / "candidates.csv"),
                "--profile",
                str(profile),
                "--format",
                "csv",
                "-o",
                str(tmp_path / "pred.csv"),
            ]
        )
        == 0
    )
    pred = pd.read_csv(tmp_path / "pred.csv", index_col=0)
    assert list(pred.index) == ["resnet18", "mobilenetv2?width=0.5"]
    assert {"predicted_ms", "low_ms", "high_ms", "mac_only_ms"} <= set(pred.columns)
    capsys.readouterr()
    assert main(["predict", "resnet18", "--profile", str(profile)]) == 0
    text = capsys.readouterr().out
    assert "MAC-only" in text and "module calls" in text
    assert main(["predict", "resnet18", "--profile", str(profile), "--runtime", "tflite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "fitted for runtime 'eager', not 'tflite'" in err and len(err.splitlines()) == 1
    plots = tmp_path / "plots"
    assert (
        main(
            [
                "compare",
                str(tmp_path / "timings.csv"),
                "--protocol",
                "lofo",
                "--plots",
                str(plots),
                "--format",
                "csv",
                "-o",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    scores = pd.read_csv(tmp_path / "s.csv", index_col=0)
    assert {"constant", "mac", "additive"} <= set(scores.index)
    assert (plots / "predicted_vs_measured.png").exists()
    assert (
        main(
            [
                "compare",
                str(tmp_path / "timings.csv"),
                "--protocol",
                "kshot",
                "--k",
                "5",
                "--draws",
                "3",
                "--format",
                "csv",
                "-o",
                str(tmp_path / "k.csv"),
            ]
        )
        == 0
    )
    assert set(pd.read_csv(tmp_path / "k.csv")["k"]) == {5}


def test_fit_errors_are_clear(tmp_path, capsys):
    pd.DataFrame({"model": ["resnet18", "resnet99"], "latency_ms": [1.0, 2.0]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    assert main(["fit", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "p.json")]) == 2
    assert "line 3: model 'resnet99' does not resolve" in capsys.readouterr().err
    assert main(["predict", "resnet18", "--profile", str(tmp_path / "none.json")]) == 2
    assert "no profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "t.csv", "--k", "-3"], "--k '-3'"),
        (["compare", "t.csv", "--k", "5,x"], "not an integer"),
        (["analyze", "resnet18", "--batch", "0"], "must be an integer >= 1"),
        (["calibrate", "--board", "b", "--out", "o", "--batch", "0"], ">= 1"),
        (["calibrate", "--board", "b", "--out", "o", "--threads", "0"], ">= 1"),
        (["calibrate", "--board", "b", "--out", "o", "--runs-per-round", "0"], ">= 1"),
        (["calibrate", "--board", "b", "--out", "o", "--rounds", "1.5"], "not an integer"),
        (["calibrate", "--board", "b", "--out", "o", "--warmup", "-1"], ">= 0"),
        (["calibrate", "--board", "b", "--out", "o", "--max-spread", "inf"], "finite"),
        (["predict", "resnet18", "--profile", "p", "--jobs", "0"], "--jobs 0"),
        (["analyze", "resnet18", "--dtype", "int8"], "invalid choice"),
    ],
)
def test_bad_counts_are_one_line_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


BROKEN_PY = {
    "syntax": "def build(:\n    pass\n",
    "raises": "def build():\n    raise RuntimeError('no weights here')\n",
    "lstm": "import torch.nn as nn\n\ndef build():\n    return nn.LSTM(4, 8)\n",
}


@pytest.mark.parametrize(
    "kind, shape, rc, message",
    [
        ("syntax", None, 2, "line 1: SyntaxError"),
        ("raises", None, 2, "raised RuntimeError: no weights here"),
        ("lstm", "5,1,4", 0, ""),
    ],
)
def test_broken_files_and_builders_get_one_line(tmp_path, capsys, kind, shape, rc, message):
    path = tmp_path / f"{kind}.py"
    path.write_text(BROKEN_PY[kind])
    argv = ["analyze", f"{path}:build"] + (["--input-shape", shape] if shape else [])
    assert main(argv) == rc
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if rc:
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("data", [b"", b"model\nr\xe9snet\n"], ids=["empty", "latin-1"])
def test_unreadable_spec_csvs_get_one_line(tmp_path, capsys, data):
    path = tmp_path / "specs.csv"
    path.write_bytes(data)
    profile = tmp_path / "p.profile.json"
    profile.write_text("{}")
    assert main(["predict", str(path), "--profile", str(profile)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import costmodel

    def boom(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(costmodel, "analyze", boom)
    assert main(["analyze", "resnet18"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "costmodel analyze: error: ZeroDivisionError: a bug (run with --debug for the traceback)"
    )
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "analyze", "resnet18"])


def test_half_precision_via_dtype(capsys):
    assert (
        main(["analyze", "resnet18", "--dtype", "float16", "--by", "node", "--format", "csv"]) == 0
    )
    nodes = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(nodes.loc[nodes["category"] != "io", "dtype"].dropna()) == {"float16"}


def test_profile_table_csv_json_and_plot(tmp_path, capsys):
    nets = tmp_path / "nets.py"
    nets.write_text(NETS_PY)
    model = f"{nets}:build_net"
    args = ["profile", model, "--input-shape", "1,3,16,16", "--repeats", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "conv_dense" in text and "between" in text and "coverage" in text
    assert "top ATen ops" in text and "1 thread(s), oneDNN" in text
    assert main([*args, "--format", "csv"]) == 0
    frame = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert set(frame["table"]) == {"category", "aten"}
    cats = frame[frame["table"] == "category"].set_index("name")
    assert {"conv_dense", "activation", "between"} <= set(cats.index)
    assert cats["time_share"].sum() == pytest.approx(1.0)
    plot = tmp_path / "p.png"
    assert main([*args, "--format", "json", "--no-onednn", "--plot", str(plot)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["totals"]["onednn"] is False and payload["totals"]["repeats"] == 2
    assert "conv2d" in payload["aten"] and plot.exists()


def test_profile_bad_model_is_one_line(capsys):
    assert main(["profile", "nosuchnet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("costmodel profile: error:") and len(err.strip().splitlines()) == 1


def test_fit_lists_every_registered_predictor_in_a_fresh_process():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "costmodel.cli", "fit", "--help"], capture_output=True, text=True
    ).stdout
    assert "{mac,additive,oplevel,full}" in out.replace(" ", "").replace("\n", "")


def test_fit_predictor_choices_are_the_registry():
    from costmodel.cli import FIT_PREDICTORS
    from costmodel.predict.estimators import PREDICTORS

    assert FIT_PREDICTORS == tuple(n for n in PREDICTORS if n != "constant")


def test_analyze_imports_no_sklearn_plotting_or_dynamo():
    """`costmodel analyze` starts fast: it never imports what only other commands need."""
    import subprocess
    import sys

    code = (
        "import sys; from costmodel.cli import main; "
        "assert main(['analyze', 'resnet?depth=18&width=0.25']) == 0; "
        "heavy = ('sklearn', 'scipy', 'matplotlib', 'torch._dynamo', "
        "'costmodel.predict.estimators'); "
        "print('LOADED', [m for m in heavy if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "LOADED []" in run.stdout, run.stdout[-300:]


FEATURIZE_SPECS = [
    "resnet?depth=18&width=0.25",
    "nb201:|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
    "nosuchnet",
    "random:seed=2",
]


def test_featurize_writes_one_row_per_spec_and_reports_bad_ones(tmp_path, capsys, monkeypatch):
    import costmodel.predict.features as features
    from costmodel.predict.bulk import read_table

    monkeypatch.setenv("COSTMODEL_CACHE", str(tmp_path / "cache"))
    specs = tmp_path / "space.csv"
    specs.write_text("model\n" + "\n".join(FEATURIZE_SPECS) + "\n")
    argv = ["featurize", str(specs), "-o", str(tmp_path / "f.parquet"), "--nodes", str(tmp_path)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    good = [s for s in FEATURIZE_SPECS if s != "nosuchnet"]
    X = read_table(tmp_path / "f.parquet")
    assert list(X.index) == good and X["macs"].gt(0).all()
    nodes = read_table(tmp_path / "nodes.parquet")
    assert list(dict.fromkeys(nodes["model"])) == good
    failed = [ln for ln in captured.err.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1 and "nosuchnet" in failed[0] and "unknown model" in failed[0]
    assert "3 models featurised (0 from the cache), 1 failed" in captured.out

    def no_analysis(*args, **kwargs):
        raise AssertionError("a rerun must read the cache")

    monkeypatch.setattr(features, "_analyze_one", no_analysis)
    specs_txt = tmp_path / "space.txt"  # the same specs, one per line, as CSV output
    specs_txt.write_text("\n".join(good) + "\n")
    assert main(["featurize", str(specs_txt), "-o", str(tmp_path / "f.csv")]) == 0
    assert "3 models featurised (3 from the cache), 0 failed" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_table(tmp_path / "f.csv"), X, check_dtype=False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["featurize", "no/such/specs.csv", "-o", "f.parquet"], "no SPECS file"),
        (["featurize", "SPECS_FILE", "-o", "f.xlsx"], "write .parquet or .csv"),
    ],
)
def test_featurize_errors_are_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "specs.txt").write_text("resnet18\n")
    argv = [str(tmp_path / "specs.txt") if a == "SPECS_FILE" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
