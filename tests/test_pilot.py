"""A pilot plans the big run (issue 28): problems for N accepted traces with an interval from the pilot's
per-problem yield, tokens, device-hours and wall time; bad pilots and targets are exit 2."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory import generate as generate_cli
from generators import pilot

YIELDS = [0, 1, 2, 2, 3, 4, 4, 4, 1, 3]   # accepted traces of 4 samples, per pilot problem


def _pilot(tmp_path, cost=True):
    folder = tmp_path / "pilot"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([{"problem_id": f"p{i}", "samples": 4, "checked": 4, "correct": a,
                                          "accepted": a, "pass_rate": a / 4} for i, a in enumerate(YIELDS)]),
                   folder / "problems.parquet")
    stats = {"input_rows": 40, "accepted": sum(YIELDS)}
    if cost:   # 40 traces, 8 GPUs for 900 s (100 of them starting), 120,000 tokens, a judge's 400 GPU-seconds
        stats["cost"] = {"generation": {"device_seconds": {"gpu": 7200.0}, "wall_seconds": 900.0,
                                        "startup_device_seconds": {"gpu": 800.0}},   # 100 s to start 8 GPUs
                         "total": {"prompt_tokens": 20_000, "completion_tokens": 100_000,
                                   "device_seconds": {"gpu": 7600.0}}}
    (folder / "stats.json").write_text(json.dumps(stats))
    return folder


def test_the_plan_scales_the_pilot_and_gives_an_interval(tmp_path):
    found = pilot.read_pilot(_pilot(tmp_path))
    assert found.devices == {"kind": "gpu", "count": 8.0}
    p = pilot.plan(found, 800_000, samples=4, gpus=None)
    mean_yield = sum(YIELDS) / 40                        # accepted per sample, averaged over problems
    assert p["mean_yield"] == pytest.approx(mean_yield)
    assert p["problems"] == math.ceil(800_000 / (4 * mean_yield))
    low, high = p["problems_90"]
    assert low < p["problems"] < high and high < 2 * p["problems"]   # the pilot's spread, not a point
    assert p["tokens"] == pytest.approx(120_000 / 40 * p["traces"], rel=1e-6)
    # per trace: what the pilot spent after its start (the big run starts once too, over millions of traces)
    assert p["device_seconds"]["gpu"] == pytest.approx((7600 - 800) / 40 * 800_000 / mean_yield, rel=1e-6)
    assert p["wall_seconds"]["gpu"] == pytest.approx(p["device_seconds"]["gpu"] / 8)
    bigger = pilot.plan(found, 800_000, samples=4, gpus=64)
    assert bigger["wall_seconds"]["gpu"] == pytest.approx(p["wall_seconds"]["gpu"] / 8)
    text = "\n".join(pilot.lines(p, found))
    assert f"problems          {p['problems']:,} (90%: {low:,} to {high:,}) at 4 samples each" in text
    assert "(the pilot's startup, 800 gpu-seconds, left out)" in text


def test_the_verb_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    folder = _pilot(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    assert generate_cli.main(["--plan-for", "800000", "--pilot", str(folder), "--gpus", "64",
                              "--out", str(tmp_path / "never")]) == 0
    out = capsys.readouterr().out
    assert "plan for 800,000 accepted traces, from a pilot of 10 problems (40 traces)" in out
    assert "GPU" in out.upper() and "on 64 device(s)" in out
    assert sorted(p.name for p in folder.iterdir()) == before and not (tmp_path / "never").exists()


@pytest.mark.parametrize("argv,says", [
    (["--plan-for", "0"], "--plan-for must be"),
    (["--plan-for", "-5"], "--plan-for must be"),
    (["--plan-for", "100"], None),                       # a pilot folder that is not a run: named below
    (["--plan-for", "100", "--gpus", "0"], "--gpus must be > 0"),
])
def test_bad_targets_and_pilots_are_exit_2(tmp_path, capsys, argv, says):
    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    assert generate_cli.main([*argv, "--pilot", str(not_a_run)]) == 2
    err = capsys.readouterr().err
    assert (says or f"--pilot {not_a_run}: not a filter run") in err


def test_a_pilot_without_cost_or_a_generate_run_is_named(tmp_path, capsys):
    assert generate_cli.main(["--plan-for", "10", "--pilot", str(_pilot(tmp_path, cost=False))]) == 2
    assert "no `cost`" in capsys.readouterr().err
    run = tmp_path / "gen"
    (run / "traces").mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    assert generate_cli.main(["--plan-for", "10", "--pilot", str(run)]) == 2
    assert "that is a generate run: filter it first" in capsys.readouterr().err
    assert generate_cli.main(["--plan-for", "10"]) == 2
    assert "--plan-for N and --pilot RUN go together" in capsys.readouterr().err
