"""The calibration run end to end on tiny models with fake clocks: files, failures, resume."""

import json

import pandas as pd
import pytest
import torch

from costmodel.bench.calibrate import calibrate
from costmodel.bench.protocol import Protocol
from costmodel.bench.store import read_timings

# The second spec builds the same network as the first, so its ops all come from the cache.
SPECS = ["fixtures_models:tiny", "fixtures_models:tiny?width=4", "fixtures_models:broken"]
FAST = Protocol(warmup=1, rounds=2, runs_per_round=2, group_size=2)


class Clock:
    """Each reading advances 1 ms; optionally raises after ``stop_after`` readings."""

    def __init__(self, stop_after=None):
        self.t, self.reads, self.stop_after = 0.0, 0, stop_after

    def __call__(self):
        self.reads += 1
        if self.stop_after is not None and self.reads > self.stop_after:
            raise KeyboardInterrupt
        self.t += 1e-3
        return self.t


def op_timer(calls):
    def timer(fn):
        fn()
        calls.append(1)
        return 20e-6

    return timer


def run(out, clock=None, calls=None, per_op="isolated", **kw):
    return calibrate(
        SPECS,
        out,
        board="test",
        protocol=FAST,
        progress=False,
        clock=clock or Clock(),
        op_timer=op_timer(calls if calls is not None else []),
        per_op=per_op,
        **kw,
    )


def test_files_metadata_and_failed_models(tmp_path):
    summary = run(tmp_path)
    assert (summary.measured, summary.failed, summary.skipped) == (2, 1, 0)
    timings = read_timings(tmp_path / "timings.csv", include_failed=True, check_models=False)
    ok = timings[timings["status"] == "ok"]
    assert list(ok["model"]) == SPECS[:2]
    assert list(ok["latency_ms"]) == pytest.approx([1.0, 1.0])  # the fake clock: 1 ms a run
    assert (ok["n"] == 4).all() and (ok["threads"] == 1).all() and (ok["board"] == "test").all()
    assert (ok["input_shape"] == "1x3x32x32").all()
    failed = timings[timings["status"] == "failed"].iloc[0]
    assert failed["model"] == "fixtures_models:broken" and "always fails" in failed["error"]
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert set(ops["model"]) == set(SPECS[:2])
    assert {"conv_dense", "activation", "pooling", "linear"} <= set(ops["category"])
    assert not ops[ops["model"] == SPECS[0]]["cached"].any()
    assert ops[ops["model"] == SPECS[1]]["cached"].all()
    meta = json.loads((tmp_path / "board.json").read_text())
    for key in (
        "board",
        "cpu",
        "cores",
        "os",
        "torch",
        "onednn",
        "threads",
        "date",
        "costmodel",
        "protocol",
        "format_version",
    ):
        assert key in meta
    assert meta["protocol"]["rounds"] == 2


def test_interrupted_run_resumes_losing_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, clock=Clock(stop_after=6))  # mid-way through the first group's rounds
    samples_before = pd.read_csv(tmp_path / "samples.csv")
    assert len(samples_before) > 0 and not (tmp_path / "timings.csv").exists()
    clock = Clock()
    summary = run(tmp_path, clock=clock)
    assert summary.measured == 2
    samples = pd.read_csv(tmp_path / "samples.csv")
    # nothing already timed was timed again: the rerun added only the missing runs
    assert len(samples) == 2 * FAST.rounds * FAST.runs_per_round
    assert clock.reads == 2 * (2 * FAST.rounds * FAST.runs_per_round - len(samples_before))
    again_calls = []
    again = run(tmp_path, calls=again_calls)
    assert (again.measured, again.skipped) == (0, 3) and again_calls == []


def test_retake_flagged_remeasures_only_flagged_models(tmp_path):
    run(tmp_path)
    timings = pd.read_csv(tmp_path / "timings.csv")
    timings.loc[timings["model"] == SPECS[0], "flagged"] = True
    timings.to_csv(tmp_path / "timings.csv", index=False)
    summary = run(tmp_path, retake_flagged=True)
    assert (summary.measured, summary.skipped) == (1, 2)
    after = pd.read_csv(tmp_path / "timings.csv")
    assert len(after) == 3 and not after["flagged"].astype(str).eq("True").any()


def test_force_remeasures_and_board_mismatch_is_refused(tmp_path):
    run(tmp_path)
    summary = run(tmp_path, force=True)
    assert summary.measured == 2
    timings = pd.read_csv(tmp_path / "timings.csv")
    assert len(timings) == 3  # replaced, not duplicated
    with pytest.raises(ValueError, match="threads=1"):
        run(tmp_path, threads=2)


def test_a_torn_last_line_is_remeasured_not_read(tmp_path):
    run(tmp_path)
    path = tmp_path / "timings.csv"
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind(",") - 3])  # cut mid-way through the last row
    summary = run(tmp_path)
    assert summary.measured + summary.failed == 1 and summary.skipped == 2
    assert path.read_text().endswith("\n")
    assert len(read_timings(path, include_failed=True, check_models=False)) == 3


def test_resume_keys_on_the_batch_size(tmp_path):
    run(tmp_path)
    with pytest.raises(ValueError, match="batch size 1, not 4"):
        run(tmp_path, batch=4)


class UnevenClock(Clock):
    """Run times of 1, 2 and 3 ms in turn: a spread above any threshold."""

    def __call__(self):
        self.reads += 1
        self.t += 1e-3 * (1 + self.reads % 3)
        return self.t


def test_retake_rounds_get_new_round_numbers(tmp_path):
    retaking = Protocol(warmup=0, rounds=2, runs_per_round=2, group_size=2, max_spread=0.0)
    calibrate(
        SPECS[:1], tmp_path, board="t", protocol=retaking, progress=False, clock=UnevenClock(),
        op_timer=op_timer([]),
    )  # fmt: skip
    samples = pd.read_csv(tmp_path / "samples.csv")
    rounds = samples.groupby(["model", "round"]).size()
    assert len(rounds) == 2 * retaking.rounds and (rounds == retaking.runs_per_round).all()


def test_in_context_rows_are_labelled_and_resume(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, clock=Clock(stop_after=6), per_op="in_context")
    summary = run(tmp_path, per_op="in_context")
    assert summary.measured == 2
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert set(ops["method"]) == {"in_context"}
    for model in SPECS[:2]:
        rows = ops[ops["model"] == model]
        assert rows["node"].is_unique  # nothing duplicated by the resume
        assert "(between)" in set(rows["node"])
        assert {"conv_dense", "activation", "pooling", "linear"} <= set(rows["category"])
        assert (rows[rows["node"] != "(between)"]["latency_us"] >= 0).all()
    meta = json.loads((tmp_path / "board.json").read_text())
    assert set(meta["profiler_overhead_us"]) == {"nested_us", "hook_us", "hook_inside_us"}
    again = run(tmp_path, per_op="in_context")
    assert again.measured == 0 and len(pd.read_csv(tmp_path / "ops.csv")) == len(ops)


def test_format_1_ops_file_is_upgraded_on_resume(tmp_path):
    run(tmp_path, per_op="isolated")
    ops = pd.read_csv(tmp_path / "ops.csv")
    ops.drop(columns=["method", "children"]).to_csv(tmp_path / "ops.csv", index=False)
    timings = pd.read_csv(tmp_path / "timings.csv")
    timings[timings["model"] != SPECS[1]].to_csv(tmp_path / "timings.csv", index=False)
    run(tmp_path, per_op="in_context")
    after = pd.read_csv(tmp_path / "ops.csv")
    assert set(after[after["model"] == SPECS[0]]["method"]) == {"isolated"}
    assert set(after[after["model"] == SPECS[1]]["method"]) == {"in_context"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cpu", "Another CPU(R) 9000"),
        ("cpu_capability", "ANOTHER_ISA"),
        ("torch", "1.0.0+cpu"),
        ("cores", 128),
    ],
)
def test_resuming_on_another_machine_or_version_is_refused(tmp_path, key, value):
    run(tmp_path)
    meta = json.loads((tmp_path / "board.json").read_text())
    (tmp_path / "board.json").write_text(json.dumps({**meta, key: value}))
    before = (tmp_path / "timings.csv").read_text()
    with pytest.raises(ValueError, match=f"measured with {key}=.*another --out folder"):
        run(tmp_path, force=True)
    assert (tmp_path / "timings.csv").read_text() == before  # nothing re-measured or lost
    assert json.loads((tmp_path / "board.json").read_text())[key] == value  # nor overwritten


def test_a_folder_from_before_cpu_capability_is_checked_by_its_torch_build_line(tmp_path):
    # one CPU name, two instruction sets: the older board.json recorded it in torch_config
    run(tmp_path)
    meta = json.loads((tmp_path / "board.json").read_text())
    assert meta["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    older = {k: v for k, v in meta.items() if k != "cpu_capability"}
    older["torch_config"] = [*meta["torch_config"][:1], "  - CPU capability usage: ANOTHER_ISA"]
    (tmp_path / "board.json").write_text(json.dumps(older))
    with pytest.raises(ValueError, match="cpu_capability='ANOTHER_ISA'.*another --out folder"):
        run(tmp_path, force=True)
    # the same line as this machine's: it resumes, and records the key from now on
    older["torch_config"] = meta["torch_config"]
    (tmp_path / "board.json").write_text(json.dumps(older))
    assert run(tmp_path, force=True).measured == 2
    after = json.loads((tmp_path / "board.json").read_text())
    assert after["cpu_capability"] == meta["cpu_capability"]


def test_a_folder_without_machine_keys_resumes_and_keeps_what_it_recorded(tmp_path):
    run(tmp_path, per_op="in_context")
    meta = json.loads((tmp_path / "board.json").read_text())
    older = {k: v for k, v in meta.items() if k not in ("runtime_version", "delegate", "cores")}
    (tmp_path / "board.json").write_text(json.dumps(older))
    summary = run(tmp_path, per_op="none", force=True)  # no profiled run: no overhead measured
    assert summary.measured == 2
    after = json.loads((tmp_path / "board.json").read_text())
    assert after["profiler_overhead_us"] == meta["profiler_overhead_us"]  # kept, not dropped
    assert after["cores"] == meta["cores"]  # recorded again


def test_cli_refuses_another_machine_in_one_line(tmp_path, capsys):
    from costmodel.cli import main

    run(tmp_path)
    meta = json.loads((tmp_path / "board.json").read_text())
    (tmp_path / "board.json").write_text(json.dumps({**meta, "cpu": "Another CPU"}))
    argv = ["calibrate", "--model", SPECS[0], "--board", "test", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cpu='Another CPU'" in err and "--out" in err
