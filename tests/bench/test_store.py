"""The timings format: append, repair, validate (every kind of bad row), import."""

import pandas as pd
import pytest

from costmodel.bench.store import (
    TIMINGS_COLUMNS,
    TimingsError,
    append_rows,
    import_timings,
    read_timings,
)


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_append_and_read_round_trip(tmp_path):
    path = tmp_path / "timings.csv"
    append_rows(path, [{"model": "resnet18", "latency_ms": 1.5, "status": "ok"}], TIMINGS_COLUMNS)
    append_rows(
        path,
        [{"model": "vgg11", "latency_ms": None, "status": "failed", "error": "boom, with a comma"}],
        TIMINGS_COLUMNS,
    )
    assert list(pd.read_csv(path).columns) == list(TIMINGS_COLUMNS)
    ok = read_timings(path)
    assert list(ok["model"]) == ["resnet18"]
    everything = read_timings(path, include_failed=True, check_models=False)
    assert everything.loc[1, "error"] == "boom, with a comma"


def test_partial_last_line_is_repaired_before_appending(tmp_path):
    path = write(tmp_path, "model,latency_ms\nresnet18,1.0\nvgg11,2.")  # cut mid-write
    append_rows(path, [{"model": "vgg13", "latency_ms": 3.0}], ("model", "latency_ms"))
    assert path.read_text() == "model,latency_ms\nresnet18,1.0\nvgg13,3.0\n"


@pytest.mark.parametrize(
    "body, message",
    [
        ("model,ms\nresnet18,1\n", "missing column(s) ['latency_ms']"),
        ("model,latency_ms\nresnet18,1\nvgg11,\n", "line 3 (model 'vgg11'): latency_ms is missing"),
        ("model,latency_ms\nresnet18,-2\n", "line 2 (model 'resnet18'): latency_ms must be a"),
        ("model,latency_ms\nresnet18,0\n", "must be a finite number > 0, got 0"),
        ("model,latency_ms\nresnet18,inf\n", "finite number > 0, got inf"),
        ("model,latency_ms\nresnet18,-inf\n", "finite number > 0, got -inf"),
        ("model,latency_ms\nresnet18,fast\n", "is not a number ('fast')"),
        ("model,latency_ms\nresnet18,1\nvgg11,2\nresnet18,1.1\n", "lines 2, 4: duplicate"),
        ("model,latency_ms\nresnet18,1\nresnet99,2\n", "line 3: model 'resnet99' does not resolve"),
        ("model,latency_ms\nresnet18,1\n,1\n", "line 3: model is empty"),
    ],
)
def test_bad_rows_are_named(tmp_path, body, message):
    with pytest.raises(TimingsError) as info:
        read_timings(write(tmp_path, body))
    assert message in str(info.value)


def test_line_numbers_count_failed_rows_too(tmp_path):
    body = "model,latency_ms,status\nvgg11,,failed\nresnet18,-1,ok\n"
    with pytest.raises(TimingsError, match="line 3 .model 'resnet18'"):
        read_timings(write(tmp_path, body))


def test_same_model_on_two_boards_is_not_a_duplicate(tmp_path):
    body = "model,latency_ms,board\nresnet18,1,a\nresnet18,2,b\n"
    assert len(read_timings(write(tmp_path, body))) == 2


def test_missing_file():
    with pytest.raises(TimingsError, match="no timings file"):
        read_timings("/nonexistent/timings.csv")


ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    + "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


def test_import_converts_units_prefix_and_keeps_columns(tmp_path):
    src = write(tmp_path, f"arch,secs,flag\n{ARCH},0.012,True\n", "src.csv")
    out, problems = import_timings(
        src,
        board="pi",
        model_column="arch",
        latency_column="secs",
        unit="s",
        model_prefix="nb201:",
        keep_columns=["flag"],
    )
    assert problems == []
    assert out.loc[0, "model"] == f"nb201:{ARCH}"
    assert out.loc[0, "latency_ms"] == pytest.approx(12.0)
    assert out.loc[0, "board"] == "pi" and bool(out.loc[0, "flag"])


def test_import_errors_and_drop_invalid(tmp_path):
    src = write(tmp_path, "name,ms\nresnet18,1\nresnet99,2\nvgg11,-1\n", "src.csv")
    with pytest.raises(TimingsError, match="no column"):
        import_timings(src, board="b", model_column="arch", latency_column="ms")
    with pytest.raises(TimingsError, match="resnet99"):
        import_timings(src, board="b", model_column="name", latency_column="ms")
    out, problems = import_timings(
        src, board="b", model_column="name", latency_column="ms", drop_invalid=True
    )
    assert list(out["model"]) == ["resnet18"] and len(problems) == 2
    with pytest.raises(TimingsError, match="unknown unit"):
        import_timings(src, board="b", model_column="name", latency_column="ms", unit="min")


def test_a_torn_last_line_is_never_read(tmp_path):
    path = write(tmp_path, "model,latency_ms\nresnet18,1.0\nvgg11,5.")  # 5.96 cut mid-write
    assert list(read_timings(path)["model"]) == ["resnet18"]


@pytest.mark.parametrize(
    "data, message",
    [(b"", "empty timings file"), (b"model,latency_ms\nr\xe9snet,1\n", "not UTF-8")],
)
def test_unreadable_files_get_one_line_with_the_remedy(tmp_path, data, message):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    for read in (read_timings, lambda p: import_timings(p, board="b")):
        with pytest.raises(TimingsError, match=message) as info:
            read(path)
        assert "\n" not in str(info.value)
