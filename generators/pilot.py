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
  wall time    device time over the cluster's devices (--gpus; default: the pilot's count), at
               the pilot's throughput per device
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout
from factory.core.errors import InputError
from factory.core.progress import fmt_duration
from generators.options import Options

BOOTSTRAP = 2000


@dataclass(kw_only=True)
class PilotOptions(Options):
    """Planning a big run from a pilot (generators/pilot.py); prints the plan, generates nothing."""

    plan_for: int | None = field(default=None, metadata={
        "help": "print what N accepted traces need (problems, tokens, device-hours, wall time), from --pilot"})
    pilot: Path | None = field(default=None, metadata={
        "help": "the pilot: the filter run (factory.filter's --out) of a small generate run"})
    gpus: float | None = field(default=None, metadata={
        "help": "devices of the cluster the plan is for (default: what the pilot ran on)"})

    def check(self):
        if self.plan_for is not None and self.plan_for < 1:
            raise ValueError(f"--plan-for must be a number of accepted traces >= 1, not {self.plan_for}")
        if (self.plan_for is None) != (self.pilot is None):
            raise ValueError("--plan-for N and --pilot RUN go together")
        if self.gpus is not None and not self.gpus > 0:
            raise ValueError(f"--gpus must be > 0, not {self.gpus}")


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
    try:
        stats = json.loads(stats_file.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{stats_file}:{e.lineno}: not valid JSON ({e.msg})") from None
    cost = stats.get("cost")
    if not cost:
        raise InputError(f"{stats_file}: no `cost` (filtered before factory.filter counted it): filter the pilot again")
    import pyarrow.parquet as pq

    table = pq.read_table(problems_file, columns=["samples", "accepted"]).to_pylist()
    yields = [r["accepted"] / r["samples"] for r in table if r["samples"]]
    if not yields or not any(yields):
        raise InputError(f"--pilot {folder}: the pilot accepted no trace, so it cannot say what one costs")
    total, generation = cost["total"], cost.get("generation") or {}
    held = generation.get("device_seconds") or {}
    devices = ({"kind": "/".join(sorted(held)), "count": sum(held.values()) / generation["wall_seconds"]}
               if held and generation.get("wall_seconds") else None)   # the devices the pilot held, on average
    startup = generation.get("startup_device_seconds") or {}   # the pilot's fixed cost, not the traces'
    spent = {k: max(0.0, v - startup.get(k, 0.0)) for k, v in (total.get("device_seconds") or {}).items()}
    return Pilot(yields=yields, samples=sum(r["samples"] for r in table) / len(table), traces=stats["input_rows"],
                 tokens=total["prompt_tokens"] + total["completion_tokens"], device_seconds=spent, devices=devices,
                 startup_seconds=startup)


def plan(pilot: Pilot, target: int, samples: int, gpus: float | None) -> dict:
    """What `target` accepted traces need at `samples` per problem (see the module docstring)."""
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
    count = gpus or (pilot.devices or {}).get("count")
    return {"target": target, "samples": samples, "mean_yield": float(ys.mean()), "pilot_problems": len(ys),
            "problems": math.ceil(problems), "problems_90": [math.ceil(low), math.ceil(high)] if low else None,
            "traces": math.ceil(traces), "tokens": round(pilot.tokens / pilot.traces * traces),
            "device_seconds": device_seconds, "devices": count,
            "wall_seconds": {k: v / count for k, v in device_seconds.items()} if count else None}


def lines(p: dict, pilot: Pilot) -> list[str]:
    kind_hours = ", ".join(f"{v / 3600:,.0f} {k}-hours" for k, v in sorted(p["device_seconds"].items())) or "unknown"
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
    if p["wall_seconds"]:
        walls = ", ".join(fmt_duration(v) for v in p["wall_seconds"].values())
        out.append(f"  wall time         {walls} on {p['devices']:.3g} device(s) at the pilot's throughput per device")
    if pilot.samples and abs(pilot.samples - p["samples"]) > 1e-9:
        out.append(f"  note              the pilot sampled {pilot.samples:g} per problem; a problem's yield per sample "
                   f"is taken to hold at {p['samples']}")
    return out
