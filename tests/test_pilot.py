"""A pilot plans the big run (issue 28): problems for N accepted traces with an interval from the pilot's
per-problem yield, tokens, device-hours and wall time; bad pilots and targets are exit 2."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory import generate as generate_cli
from factory.core.progress import fmt_duration
from generators import pilot

YIELDS = [0, 1, 2, 2, 3, 4, 4, 4, 1, 3]   # accepted traces of 4 samples, per pilot problem


def _pilot(tmp_path, cost=True):
    folder = tmp_path / "pilot"
    folder.mkdir(parents=True)
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
    p = pilot.plan(found, 800_000, samples=4)   # on what the pilot held
    mean_yield = sum(YIELDS) / 40                        # accepted per sample, averaged over problems
    assert p["mean_yield"] == pytest.approx(mean_yield)
    assert p["problems"] == math.ceil(800_000 / (4 * mean_yield))
    low, high = p["problems_90"]
    assert low < p["problems"] < high and high < 2 * p["problems"]   # the pilot's spread, not a point
    assert p["tokens"] == pytest.approx(120_000 / 40 * p["traces"], rel=1e-6)
    # per trace: what the pilot spent after its start (the big run starts once too, over millions of traces)
    assert p["device_seconds"]["gpu"] == pytest.approx((7600 - 800) / 40 * 800_000 / mean_yield, rel=1e-6)
    assert p["wall_seconds"] == pytest.approx(p["device_seconds"]["gpu"] / 8)
    bigger = pilot.plan(found, 800_000, samples=4, where=pilot.Cluster("gpu", 64, "--gpus 64"))
    assert bigger["wall_seconds"] == pytest.approx(p["wall_seconds"] / 8)
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
    assert "cluster           64 gpu(s): --gpus 64: 64 engine(s) of TP 1 x PP 1" in out
    assert "wall time" in out and "on 64 gpu(s) at the pilot's throughput per device" in out
    assert sorted(p.name for p in folder.iterdir()) == before and not (tmp_path / "never").exists()


@pytest.mark.parametrize("argv,says", [
    (["--plan-for", "0"], "--plan-for must be"),
    (["--plan-for", "-5"], "--plan-for must be"),
    (["--plan-for", "100"], None),                       # a pilot folder that is not a run: named below
    (["--plan-for", "100", "--gpus", "0"], "--gpus must be a whole number of GPUs, at least 1, not 0"),
    (["--plan-for", "100", "--gpus", "9.5"], "--gpus must be a whole number of GPUs, at least 1, not 9.5"),
    (["--plan-for", "100", "--tensor-parallel-size", "0"], "--tensor-parallel-size must be at least 1, not 0"),
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


def _plan_text(tmp_path, capsys, *argv, cost=True, kind="gpu"):
    folder = _pilot(tmp_path, cost=cost)
    if kind != "gpu":   # the same pilot, run on CPU cores
        stats = json.loads((folder / "stats.json").read_text())
        stats["cost"] = json.loads(json.dumps(stats["cost"]).replace('"gpu"', f'"{kind}"'))
        (folder / "stats.json").write_text(json.dumps(stats))
    code = generate_cli.main(["--plan-for", "800000", "--pilot", str(folder), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cluster_is_engines_of_tp_x_pp(tmp_path, capsys):
    code, out, _ = _plan_text(tmp_path, capsys, "--gpus", "20", "--tensor-parallel-size", "4",
                              "--pipeline-parallel-size", "2")
    assert code == 0
    assert "cluster           16 gpu(s): --gpus 20: 2 engine(s) of TP 4 x PP 2, 4 GPU(s) left idle" in out
    # Without --gpus, one engine of TP x PP is the cluster.
    code, out, _ = _plan_text(tmp_path / "b", capsys, "--tensor-parallel-size", "8")
    assert code == 0 and "cluster           8 gpu(s): one engine of TP 8 x PP 1" in out
    code, _, err = _plan_text(tmp_path / "c", capsys, "--gpus", "4", "--tensor-parallel-size", "8")
    assert code == 2 and "--gpus 4 cannot hold one engine of TP 8 x PP 1 = 8 GPUs" in err


def test_a_cpu_pilot_gives_no_gpu_wall_time(tmp_path, capsys):
    code, out, _ = _plan_text(tmp_path, capsys, "--gpus", "64", kind="cpu")
    assert code == 0
    assert "cpu-hours" in out and "on 64 gpu(s) at the pilot's throughput" not in out
    assert "wall time         unknown: the pilot ran on cpu, which says nothing of a gpu's throughput" in out


def test_with_ray_the_cluster_is_where_the_dry_run_places_the_replicas(tmp_path, capsys):
    """No --ray-address: this machine's resources, as `--dry-run` reads them, no Ray started."""
    from factory.core.ray import local_resources

    cpus = local_resources()[0]["CPU"]
    code, out, _ = _plan_text(tmp_path, capsys, "--backend", "ray", "--replicas", "2", "--cpus-per-replica", "1",
                              kind="cpu")
    assert code == 0
    fits = min(2, int(cpus))
    assert f"cluster           {fits} cpu(s): Ray (no --ray-address: this machine; " in out
    assert f"{fits} of 2 replica(s) at once, 1 cpu(s) each" in out
    found = pilot.read_pilot(tmp_path / "pilot")
    expected = pilot.plan(found, 800_000, samples=4, where=pilot.Cluster("cpu", fits, ""))
    assert f"wall time         {fmt_duration(expected['wall_seconds'])} (" in out and f"days) on {fits} cpu(s)" in out


def test_a_big_cluster_is_counted_in_full(tmp_path, capsys):
    code, out, _ = _plan_text(tmp_path, capsys, "--gpus", "1024", "--tensor-parallel-size", "8")
    assert code == 0 and "cluster           1,024 gpu(s): --gpus 1024: 128 engine(s) of TP 8 x PP 1" in out
    assert "days) on 1,024 gpu(s)" in out or "on 1,024 gpu(s) at the pilot's" in out


@pytest.mark.parametrize("damage,says", [
    (lambda f: (f / "problems.parquet").write_text("garbage"), "problems.parquet: not a filter run's problems table"),
    (lambda f: pq.write_table(pa.table({"foo": [1]}), f / "problems.parquet"), "with `samples` and `accepted`"),
    (lambda f: (f / "stats.json").write_text("[1, 2]"), "stats.json: not a filter run's stats"),
    (lambda f: (f / "stats.json").write_text('{"input_rows": 4, "cost": {"x": 1}}'), "`cost` lacks the totals"),
    (lambda f: (f / "stats.json").write_bytes(b"\xff{}"), "stats.json: cannot be read"),
])
def test_a_damaged_pilot_is_one_line_naming_the_file(tmp_path, capsys, damage, says):
    folder = _pilot(tmp_path)
    damage(folder)
    assert generate_cli.main(["--plan-for", "100", "--pilot", str(folder)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_small_device_times_are_not_rounded_away(tmp_path, capsys):
    found = pilot.read_pilot(_pilot(tmp_path))
    found.device_seconds = {"cpu": 36.0}   # 0.9 cpu-seconds a trace
    text = "\n".join(pilot.lines(pilot.plan(found, 1000, samples=4), found))
    assert "device time       0.417 cpu-hours" in text   # 1000 / 0.6 = 1,667 traces x 0.9 s = 1,500 s
