"""`--backend ray`: the teacher as Ray Data actors, on a local Ray instance and on a real
multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head and two worker
nodes, each its own raylet), one of which is killed mid-run."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_MAX_MODEL_LEN, make_problems, python_cmd, write_jsonl
from factory.core.shards import shard_paths
from generators.config import GenerateConfig
from generators.run import main as run
from generators.run import make_backend

pytest.importorskip("ray.data")

RAY_MEMORY_FRACTION = 0.08   # each replica is its own engine; several live at once


def _config(model, problems, out, **kw) -> GenerateConfig:
    base = dict(problems=str(problems), teacher=str(model), out=out, samples=2, max_tokens=48,
                max_model_len=TEST_MAX_MODEL_LEN, gpu_memory_utilization=RAY_MEMORY_FRACTION, enforce_eager=True)
    return GenerateConfig(**{**base, **kw})


def _rows(out) -> dict:
    rows = {}
    for path in shard_paths(out / "traces"):
        for r in pq.read_table(path).to_pylist():
            key = (r["problem_id"], r["sample"])
            assert key not in rows, f"{key} written twice"
            rows[key] = r
    return rows


def test_ray_replicas_write_the_engine_backends_traces(tiny_model, engine_backend, tmp_path):
    """Same run seed → byte-identical rows from two Ray replicas and from the in-process engine."""
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(12))
    run(_config(tiny_model, problems, tmp_path / "engine"), backend=engine_backend)
    config = _config(tiny_model, problems, tmp_path / "ray", backend="ray", replicas=2, ray_batch_size=4)
    backend = make_backend(config)
    try:
        summary = run(config, backend=backend)
    finally:
        backend.close()
    engine, ray_rows = _rows(tmp_path / "engine"), _rows(tmp_path / "ray")
    assert summary.rows == 24 and summary.missing == 0
    assert ray_rows.keys() == engine.keys()
    for key in engine:
        assert ray_rows[key] == engine[key], key
    stats = summary.backend_stats
    assert stats["batches"] == 6 and stats["duplicates_dropped"] == 0
    assert sum(stats["served_by_node"].values()) == 24
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["backend"]["backend"] == "ray" and manifest["backend"]["replicas"] == 2
    per = manifest["backend"]["cpus_per_replica"]   # CPU replicas: the cores they hold, for the run's cost
    assert manifest["backend"]["devices"] == {"kind": "cpu", "count": 2 * per}
    assert manifest["runs"][-1]["device_seconds"] == pytest.approx(manifest["runs"][-1]["wall_seconds"] * 2 * per,
                                                                  abs=0.01)
    assert manifest["status"] == "complete"


def _cpu_pilot(folder):
    """A filter run's stats and problems, as a pilot on CPU cores (tests/test_pilot.py has the GPU one)."""
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"problem_id": f"p{i}", "samples": 2, "accepted": i % 3}
                                         for i in range(6)]), folder / "problems.parquet")
    (folder / "stats.json").write_text(json.dumps({"input_rows": 12, "cost": {
        "generation": {"device_seconds": {"cpu": 24.0}, "wall_seconds": 12.0},
        "total": {"prompt_tokens": 1200, "completion_tokens": 6000, "device_seconds": {"cpu": 24.0}}}}))
    return folder


def test_worker_node_killed_mid_run_the_job_finishes_each_pair_once(tiny_model, tmp_path):
    """A head and three 1-CPU worker nodes, each its own raylet; two replicas. Once a worker
    node's replica has delivered traces and the run is part-way, that node (its raylet and the
    replica's process) is removed. Ray restarts the replica on the spare node and redoes the
    batches it held; the run completes, every (problem, sample) on disk exactly once.
    (With no spare room the restart waits for a survivor's slot: the same outcome, 1 to 6
    minutes later on this machine, so the test keeps one node spare.)"""
    from ray.cluster_utils import Cluster

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(40))
    out = tmp_path / "run"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        workers = {n.node_id: n for n in (cluster.add_node(num_cpus=1) for _ in range(3))}
        cluster.wait_for_nodes()
        # A pilot's plan for this cluster (issue 28): the dry run's placement on the real cluster.
        pilot = _cpu_pilot(tmp_path / "pilot")
        plan = subprocess.run(python_cmd("-m", "factory.generate", "--plan-for", "1000", "--pilot", str(pilot),
                                         "--backend", "ray", "--ray-address", cluster.address, "--replicas", "2",
                                         "--cpus-per-replica", "1"), capture_output=True, text=True, timeout=300)
        assert plan.returncode == 0, plan.stderr[-2000:]
        assert "cluster           2 cpu(s): Ray (" in plan.stdout, plan.stdout
        assert "; 3 CPU in 4 node(s)): 2 of 2 replica(s) at once, 1 cpu(s) each" in plan.stdout, plan.stdout
        assert " on 2 cpu(s) at the pilot's throughput per device" in plan.stdout
        config = _config(tiny_model, problems, out, samples=4, max_tokens=160, backend="ray",
                         ray_address=cluster.address, replicas=2, cpus_per_replica=1, ray_batch_size=4,
                         requests_per_replica=8, shard_rows=8, flush_seconds=0.5)
        backend = make_backend(config)
        killed = {}

        def kill_mid_run():
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                served = {k: v for k, v in backend.stats.get("served_by_node", {}).items() if k in workers}
                if served and max(served.values()) >= 4 and len(shard_paths(out / "traces")) >= 2:
                    victim = max(served, key=served.get)
                    killed.update(node=victim, after=sum(backend.stats["served_by_node"].values()))
                    cluster.remove_node(workers[victim])
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_mid_run)
        killer.start()
        try:
            summary = run(config, backend=backend)
        finally:
            killer.join()
            backend.close()
    finally:
        cluster.shutdown()
    assert "node" in killed and killed["after"] < 160, killed   # the kill landed mid-run
    rows = _rows(out)
    assert len(rows) == 160 and summary.missing == 0
    served = summary.backend_stats["served_by_node"]
    assert served[killed["node"]] > 0, served
    assert sum(v for k, v in served.items() if k != killed["node"]) > 0, served   # the others finished it
    assert sum(served.values()) == 160
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_dry_run_prints_the_ray_plan_and_writes_nothing(tiny_model, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(10))
    out = tmp_path / "run"
    proc = subprocess.run(python_cmd("-m", "factory.generate", "--problems", str(problems), "--teacher",
                                     str(tiny_model), "--out", str(out), "--samples", "3", "--backend", "ray",
                                     "--replicas", "2", "--ray-batch-size", "5", "--dry-run"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "30 pairs; 0 on disk, 30 to generate" in text
    assert "replicas           2" in text and "5 requests each" in text
    assert "on node loss" in text
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--replicas", "2"], "--replicas need --backend ray"),
    (["--backend", "ray", "--replicas", "0"], "--replicas must be at least 1"),
    (["--backend", "ray", "--endpoints", "http://127.0.0.1:9"], "two different teachers"),
    # Ray retries a closed HOST:PORT for ever (a probe's dry run never ended)
    (["--backend", "ray", "--ray-address", "127.0.0.1:1", "--dry-run"], "--ray-address 127.0.0.1:1: nothing answers"),
    (["--backend", "ray", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: nothing answers there"),
])
def test_bad_ray_flags_exit_2(tiny_model, tmp_path, flags, message):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    proc = subprocess.run(python_cmd("-m", "factory.generate", "--problems", str(problems), "--teacher",
                                     str(tiny_model), "--out", str(tmp_path / "run"), *flags),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists()


def _filter_outputs(out) -> dict:
    got = {}
    for part in ("accepted", "rejected"):
        files = sorted(p.name for p in (out / part).glob("*.parquet"))
        got[part] = (files, pq.ParquetDataset(out / part).read() if files else None)
    got["stats"] = json.loads((out / "stats.json").read_text())
    got["problems"] = (out / "problems.parquet").read_bytes()
    return got


def _same_outputs(local, ray_out) -> None:
    a, b = _filter_outputs(local), _filter_outputs(ray_out)
    for part in ("accepted", "rejected"):
        assert a[part][0] == b[part][0], part
        assert a[part][1].equals(b[part][1]), part            # same rows, columns and order
    assert a["stats"] == b["stats"] and a["problems"] == b["problems"]


def _filter_both_ways(source, config, tmp_path) -> None:
    """`factory.filter` on `source` with the local and the Ray backend; the outputs must match."""
    from factory import filter as filter_cli

    common = ["--input", str(source), "--config", str(config), "--workers", "2"]
    assert filter_cli.main([*common, "--out", str(tmp_path / "local")]) == 0
    assert filter_cli.main([*common, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    _same_outputs(tmp_path / "local", tmp_path / "ray")


def _r1_rows() -> list[dict]:
    """R1-shaped traces (tests/r1_traces.py) over two ids of each problem, several samples each,
    clean and with every flaw: duplicate problems, exact duplicates, caps and flaws all fire."""
    import r1_traces as rt

    rows = []
    for t in rt.CLEAN:
        for pid in (t["id"], t["id"] + "-again"):            # the same problem under two ids
            for s in range(3):
                r = rt.row(t, sample=s, problem_id=pid)
                if s == 2:
                    r = rt.flawed(t, list(rt.FLAWS)[len(rows) % len(rt.FLAWS)])
                    r["problem_id"], r["sample"] = pid, s
                rows.append(r)
            for s, coda in ((3, "So that settles it."), (4, "That is the answer.")):  # distinct: the cap
                rows.append(rt.row(t, sample=s, problem_id=pid, reasoning=t["reasoning"] + "\n\n" + coda))
    for r in rows:
        r["source"] = "r1-shapes"
    return rows


def test_filter_ray_backend_is_bit_identical_to_local_on_parquet_shards(tmp_path):
    """Parquet in several files and row groups (read by the actors); dedup with a per-problem cap."""
    import pyarrow as pa

    from filters.config import DEFAULT_CONFIG

    rows = _r1_rows()
    shards = tmp_path / "traces"
    shards.mkdir()
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(part), shards / f"part-{i}.parquet", row_group_size=7)
    config = tmp_path / "f.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("max_per_problem: null", "max_per_problem: 2"))
    _filter_both_ways(shards, config, tmp_path)
    reasons = _filter_outputs(tmp_path / "ray")["stats"]["funnel"]
    dedup = next(s for s in reasons if s["filter"] == "dedup")["reasons"]
    assert dedup.get("duplicate_problem", 0) > 0 and dedup.get("over_cap", 0) > 0, dedup
    flawed = {s["filter"]: s["rejected"] for s in reasons}
    assert flawed["language"] > 0 and flawed["readability"] > 0 and flawed["correctness"] > 0, flawed


def test_filter_ray_backend_matches_local_on_jsonl_with_every_reason(tmp_path):
    """JSONL input (handed to the actors as blocks): every reason of the filter CLI's corpus,
    the math-verify time limit included."""
    from filters.config import DEFAULT_CONFIG
    from test_filter_cli import corpus

    src = write_jsonl(tmp_path / "in.jsonl", [r for r, _ in corpus()])
    config = tmp_path / "f.yaml"
    config.write_text(DEFAULT_CONFIG.read_text().replace("verify_timeout: 5", "verify_timeout: 2"))
    _filter_both_ways(src, config, tmp_path)
    rejected = _filter_outputs(tmp_path / "ray")["rejected"][1].to_pylist()
    assert {r["id"]: r["reject_reason"] for r in rejected}["hang"] == "verify_timeout"


@pytest.mark.parametrize("tp, pp, replicas, cluster, node, want", [
    # R1 on 8-GPU nodes: a replica spans two nodes, so vLLM's Ray executor places its workers
    (8, 2, 32, {"CPU": 6144, "GPU": 512, "nodes": 64}, {"CPU": 96, "GPU": 8},
     {"gpus": 0, "cpus": 1, "fits": 32, "executor": "placement group", "memory": None}),
    # a one-node teacher: the replica holds its 8 GPUs
    (8, 1, 4, {"CPU": 384, "GPU": 32, "nodes": 4}, {"CPU": 96, "GPU": 8},
     {"gpus": 8, "cpus": 1, "fits": 4, "executor": "worker processes", "memory": None}),
    # more replicas than GPUs: the others start as room frees up
    (1, 1, 12, {"CPU": 96, "GPU": 8, "nodes": 1}, {"CPU": 96, "GPU": 8},
     {"gpus": 1, "cpus": 1, "fits": 8, "executor": "one engine", "memory": None}),
    # CPU only: the CPUs and the engines' RAM share split between the replicas of a node
    (1, 1, 2, {"CPU": 2, "nodes": 1}, {"CPU": 2},
     {"gpus": 0, "cpus": 1, "fits": 2, "executor": "one engine", "memory": 0.15}),
])
def test_ray_plan_resources_per_replica(tp, pp, replicas, cluster, node, want):
    from generators.options import EngineOptions, RayOptions
    from generators.ray_backend import plan

    p = plan(RayOptions(replicas=replicas),
             EngineOptions(tensor_parallel_size=tp, pipeline_parallel_size=pp), cluster, node)
    assert (p.gpus_per_replica, p.cpus_per_replica, p.fits_at_once, p.memory_fraction) == \
        (want["gpus"], want["cpus"], want["fits"], want["memory"])
    assert want["executor"] in p.executor
    text = "\n".join(p.lines())
    assert f"replicas           {replicas}" in text and "on node loss" in text


def test_evaluate_dry_run_prints_each_benchmarks_ray_plan(tiny_model, tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run(python_cmd("-m", "factory.evaluate", "--model", str(tiny_model), "--benchmarks", "lab",
                                     "--k", "lab=2", "--limit", "5", "--out", str(out), "--backend", "ray",
                                     "--replicas", "2", "--dry-run"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "== lab" in proc.stdout and "5 x 2 samples = 10 pairs" in proc.stdout
    assert "replicas           2" in proc.stdout
    assert not out.exists()


def test_filter_ray_backend_with_a_judge_matches_local(tiny_model, tmp_path):
    """The referee step between the Ray stages: the same verdicts, columns and decisions as the local
    executor's, and a row the judge keeps still meets dedup (its copy is dropped on both)."""
    from factory import filter as filter_cli
    from test_judge import JudgeServer, _farm_judge, _traces

    server = JudgeServer(tiny_model, tmp_path)
    try:
        src = _traces(tmp_path / "in.jsonl")
        rows = [json.loads(line) for line in src.read_text().splitlines()]
        rows.append(next(r for r in rows if r["problem_id"] == "flip"))   # an exact duplicate the judge keeps
        write_jsonl(src, rows)
        for name, flags in (("local", []), ("ray", ["--backend", "ray"])):
            judge = {**_farm_judge(tiny_model, server, tmp_path, when="rejected"),
                     "cache": str(tmp_path / f"{name}.sqlite")}
            config = tmp_path / f"{name}.yaml"
            config.write_text("filters:\n  format: {}\n  correctness:\n    judge: " + json.dumps(judge)
                              + "\n  dedup: {}\n")
            assert filter_cli.main(["--input", str(src), "--config", str(config), "--workers", "2",
                                    "--out", str(tmp_path / name), *flags]) == 0
    finally:
        server.kill()
    a, b = _filter_outputs(tmp_path / "local"), _filter_outputs(tmp_path / "ray")
    for part in ("accepted", "rejected"):
        assert a[part][1].equals(b[part][1]), part
    assert a["stats"]["funnel"] == b["stats"]["funnel"]
    drop = ("seconds", "cache", "backend")
    assert {k: v for k, v in a["stats"]["judge"].items() if k not in drop} == \
        {k: v for k, v in b["stats"]["judge"].items() if k not in drop}
    rejected = b["rejected"][1].to_pylist()
    assert [r["reject_reason"] for r in rejected if r["problem_id"] == "flip"] == ["exact_duplicate"]
    assert {r["problem_id"] for r in b["accepted"][1].to_pylist()} == {"ok", "flip", "unmarked"}

