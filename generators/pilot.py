"""A pilot plans the big run: from a small run, generated then filtered, to what N accepted traces need.

    python -m factory.generate --plan-for 800000 --pilot runs/pilot-filtered [--samples 4] [--gpus 64]

The pilot is the filter run of a generate run: its stats.json (`cost`, filters/cost.py: the
generation's device-seconds and tokens, the judge's) and its problems.parquet (each problem's
samples and accepted traces). From them:

  yield        accepted traces per sample, problem by problem; the big run needs
               N / (samples x mean yield) problems. The interval is the 5th-95th percentile of
               that over a bootstrap of the pilot's problems (the big run's problems are taken to
               be drawn like the pilot's: a pilot on easier problems promises too much).
  tokens       the pilot's mean tokens per generated trace, times the traces to generate
  device time  the pilot's device-seconds per generated trace (generation and judge; its startup,
               reading problems and starting the teacher, left out), times the traces: in the
               pilot's device kind (GPU-hours from a GPU pilot; a CPU pilot gives
               CPU-core-hours, which say nothing of a GPU cluster: the tokens do)
  cluster      the devices the big run holds: --gpus N (as engines of TP x PP GPUs each, from
               --tensor-parallel-size and --pipeline-parallel-size), or with --backend ray what
               the Ray cluster (--ray-address) has room for, as the dry run places the replicas,
               or one engine of TP x PP GPUs; by default what the pilot held
  wall time    device time over the cluster's devices, at the pilot's throughput per device; only
               where the pilot ran on the cluster's kind of device (a CPU pilot says nothing of a
               GPU's speed: its tokens do)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from factory.core import layout
from factory.core.errors import InputError, first_line
from factory.core.progress import fmt_duration
from generators.options import Options
from generators.ray_backend import RayBackend

if TYPE_CHECKING:
    from generators.config import GenerateConfig

BOOTSTRAP = 2000


@dataclass(kw_only=True)
class PilotOptions(Options):
    """Planning a big run from a pilot (generators/pilot.py); prints the plan, generates nothing."""

    plan_for: int | None = field(default=None, metadata={
        "help": "print what N accepted traces need (problems, tokens, device-hours, wall time), from --pilot"})
    pilot: Path | None = field(default=None, metadata={
        "help": "the pilot: the filter run (factory.filter's --out) of a small generate run"})
    gpus: float | None = field(default=None, metadata={
        "help": "GPUs of the cluster the plan is for, as engines of --tensor-parallel-size x "
                "--pipeline-parallel-size (default: the Ray cluster with --backend ray, else what the pilot ran on)"})

    def check(self):
        if self.plan_for is not None and self.plan_for < 1:
            raise ValueError(f"--plan-for must be a number of accepted traces >= 1, not {self.plan_for}")
        if (self.plan_for is None) != (self.pilot is None):
            raise ValueError("--plan-for N and --pilot RUN go together")
        if self.gpus is not None and not (self.gpus >= 1 and float(self.gpus).is_integer()):
            raise ValueError(f"--gpus must be a whole number of GPUs, at least 1, not {self.gpus:g}")


@dataclass
class Pilot:
    yields: list[float]          # accepted traces per sample, per problem
    samples: float               # samples per problem in the pilot
    traces: int                  # traces the pilot generated (the filter's input)
    tokens: int                  # their prompt + completion tokens (and the judge's)
    device_seconds: dict         # by device kind (generation and judge)
    devices: dict | None         # what the pilot's generation held ({kind, count})
    startup_seconds: dict = field(default_factory=dict)   # device-seconds before its first request, left out


def read_pilot(folder: Path) -> Pilot:
    """The pilot's figures; InputError (one line) when `folder` is not a filter run with them."""
    folder = Path(folder)
    stats_file, problems_file = folder / layout.STATS, folder / layout.PROBLEMS
    if not stats_file.is_file() or not problems_file.is_file():
        hint = (" (that is a generate run: filter it first, and give the filter's --out)"
                if layout.is_generate_run(folder) else "")
        raise InputError(f"--pilot {folder}: not a filter run (no {layout.STATS} and {layout.PROBLEMS}){hint}")
    stats = _read_stats(stats_file)
    table = _read_problems(problems_file)
    yields = [r["accepted"] / r["samples"] for r in table if r["samples"]]
    if not yields or not any(yields):
        raise InputError(f"--pilot {folder}: the pilot accepted no trace, so it cannot say what one costs")
    cost = stats["cost"]
    total, generation = cost["total"], cost.get("generation") or {}
    held = generation.get("device_seconds") or {}
    devices = ({"kind": "/".join(sorted(held)), "count": sum(held.values()) / generation["wall_seconds"]}
               if held and generation.get("wall_seconds") else None)   # the devices the pilot held, on average
    startup = generation.get("startup_device_seconds") or {}   # the pilot's fixed cost, not the traces'
    spent = {k: max(0.0, v - startup.get(k, 0.0)) for k, v in (total.get("device_seconds") or {}).items()}
    return Pilot(yields=yields, samples=sum(r["samples"] for r in table) / len(table), traces=stats["input_rows"],
                 tokens=total["prompt_tokens"] + total["completion_tokens"], device_seconds=spent, devices=devices,
                 startup_seconds=startup)


def _read_stats(path: Path) -> dict:
    """The filter's stats.json, checked for what a plan reads from it."""
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except (UnicodeDecodeError, OSError) as e:
        raise InputError(f"{path}: cannot be read ({e})") from None
    if not isinstance(stats, dict):
        raise InputError(f"{path}: not a filter run's stats (a JSON object)")
    cost = stats.get("cost")
    if not cost:
        raise InputError(f"{path}: no `cost` (filtered before factory.filter counted it): filter the pilot again")
    total = cost.get("total") if isinstance(cost, dict) else None
    ok = (isinstance(total, dict) and all(isinstance(total.get(k), (int, float)) for k in ("prompt_tokens",
          "completion_tokens")) and isinstance(stats.get("input_rows"), int) and stats["input_rows"] > 0)
    if not ok:
        raise InputError(f"{path}: `cost` lacks the totals a plan needs (total prompt_tokens and completion_tokens, "
                         f"input_rows): filter the pilot again")
    return stats


def _read_problems(path: Path) -> list[dict]:
    """Each problem's samples and accepted traces, from the filter's problems.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=["samples", "accepted"]).to_pylist()
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a filter run's problems table with `samples` and `accepted` "
                         f"({first_line(e)})") from None


@dataclass
class Cluster:
    """The devices the big run holds, and where the plan learnt it."""
    kind: str | None          # gpu or cpu; None: unknown
    count: float | None
    how: str


def cluster(config: GenerateConfig, pilot: Pilot) -> Cluster:
    """The big run's devices (see the module docstring); InputError when --gpus cannot hold one engine."""
    tp, pp = config.tensor_parallel_size, config.pipeline_parallel_size
    world, shape = tp * pp, f"TP {tp} x PP {pp}"
    if config.gpus:
        engines = int(config.gpus // world)
        if engines < 1:
            raise InputError(f"--gpus {config.gpus:g} cannot hold one engine of {shape} = {world} GPUs")
        idle = config.gpus - engines * world
        return Cluster("gpu", engines * world, f"--gpus {config.gpus:g}: {engines:,} engine(s) of {shape}"
                       + (f", {idle:g} GPU(s) left idle" if idle else ""))
    if config.backend == RayBackend.name:
        where = RayBackend.placement(config)
        if where.cluster.get("GPU", 0) > 0:
            kind, each = "gpu", world
        else:
            kind, each = "cpu", where.cpus_per_replica
        address = where.address if config.ray_address else "no --ray-address: this machine"
        return Cluster(kind, where.fits_at_once * each,
                       f"Ray ({address}; {where.cluster_summary()}): {where.fits_at_once} of "
                       f"{where.replicas} replica(s) at once, {each:g} {kind}(s) each")
    if world > 1:
        return Cluster("gpu", world, f"one engine of {shape}")
    return held(pilot)


def held(pilot: Pilot) -> Cluster:
    """What the pilot's generation held, on average: the cluster when nothing else names one."""
    if pilot.devices:
        return Cluster(pilot.devices["kind"], pilot.devices["count"], "what the pilot held")
    return Cluster(None, None, "unknown: give --gpus")


def plan(pilot: Pilot, target: int, samples: int, where: Cluster | None = None) -> dict:
    """What `target` accepted traces need at `samples` per problem on `where` (default: the
    pilot's devices; see the module docstring)."""
    import numpy as np

    ys = np.asarray(pilot.yields)
    need = lambda mean_yield: target / (samples * mean_yield)  # noqa: E731  (problems)
    rng = np.random.default_rng(0)
    means = ys[rng.integers(0, len(ys), size=(BOOTSTRAP, len(ys)))].mean(axis=1)
    means = means[means > 0]
    low, high = (float(need(np.percentile(means, 95))), float(need(np.percentile(means, 5)))) if len(means) else (None, None)
    problems = need(float(ys.mean()))
    traces = problems * samples
    per_trace = {k: v / pilot.traces for k, v in pilot.device_seconds.items()}
    device_seconds = {k: v * traces for k, v in per_trace.items()}
    where = where or held(pilot)
    # The pilot's throughput per device carries over only to the same kind of device.
    wall = device_seconds.get(where.kind) if where.count else None
    return {"target": target, "samples": samples, "mean_yield": float(ys.mean()), "pilot_problems": len(ys),
            "problems": math.ceil(problems), "problems_90": [math.ceil(low), math.ceil(high)] if low else None,
            "traces": math.ceil(traces), "tokens": round(pilot.tokens / pilot.traces * traces),
            "device_seconds": device_seconds, "devices": where.count, "kind": where.kind, "cluster": where.how,
            "wall_seconds": wall / where.count if wall is not None else None}


def lines(p: dict, pilot: Pilot) -> list[str]:
    kind_hours = ", ".join(f"{_count(v / 3600, 3)} {k}-hours" for k, v in sorted(p["device_seconds"].items())) or "unknown"
    interval = f" (90%: {p['problems_90'][0]:,} to {p['problems_90'][1]:,})" if p["problems_90"] else ""
    out = [f"plan for {p['target']:,} accepted traces, from a pilot of {p['pilot_problems']:,} problems "
           f"({pilot.traces:,} traces):",
           f"  yield             {p['mean_yield']:.3f} accepted traces per sample (mean over the pilot's problems)",
           f"  problems          {p['problems']:,}{interval} at {p['samples']} samples each",
           f"  traces            {p['traces']:,} to generate",
           f"  tokens            {p['tokens']:,} (prompt + completion, the judge's included)",
           f"  device time       {kind_hours}"
           + (" (the pilot's startup, " + ", ".join(f"{v:,.0f} {k}-seconds" for k, v in pilot.startup_seconds.items())
              + ", left out)" if any(pilot.startup_seconds.values()) else "")]
    out.append(f"  cluster           {_count(p['devices'])} {p['kind']}(s): {p['cluster']}" if p["devices"]
               else f"  cluster           {p['cluster']}")
    if p["wall_seconds"] is not None:
        days = f" ({p['wall_seconds'] / 86400:,.1f} days)" if p["wall_seconds"] >= 2 * 86400 else ""
        out.append(f"  wall time         {fmt_duration(p['wall_seconds'])}{days} on {_count(p['devices'])} {p['kind']}(s) "
                   f"at the pilot's throughput per device")
    elif p["devices"]:
        held = "/".join(sorted(p["device_seconds"])) or "unknown"
        out.append(f"  wall time         unknown: the pilot ran on {held}, which says nothing of a {p['kind']}'s "
                   f"throughput; pilot on one of the cluster's {p['kind']}s (the tokens above carry over)")
    if pilot.samples and abs(pilot.samples - p["samples"]) > 1e-9:
        out.append(f"  note              the pilot sampled {pilot.samples:g} per problem; a problem's yield per sample "
                   f"is taken to hold at {p['samples']}")
    return out


def _count(n: float, digits: int = 3) -> str:
    """1,024 GPUs, 62,963 GPU-hours; a pilot's average 1.97 CPUs, 0.281 CPU-hours."""
    return f"{n:,.0f}" if float(n).is_integer() or n >= 10 ** digits else f"{n:.{digits}g}"
