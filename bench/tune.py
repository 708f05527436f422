"""The engine tuner on the lab teacher at the demo's settings: what it finds, and the tuned engine
against the default one and bare `vllm.LLM.generate`, side by side in one run.

1. `generators.run.tune_engine` (what `factory.generate --tune` runs) on the first --tune-problems
   bundled lab problems, 4 samples each, temperature 0.6, top-p 0.95, up to factory.lab.MAX_TOKENS
   new tokens: its table and its winner.
2. Rounds, each with fresh engines (their start is not timed):
     bare      vllm.LLM.generate on the default engine: the same token ids and seeds
     default   the factory's whole path (generators.run.main) on the default engine
     tuned     the factory's whole path on an engine with the winner's arguments
   The same requests on every side, so the same completions where the settings leave sampling
   alone; medians over the rounds.

    python bench/tune.py [--tune-problems 12] [--problems 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402


def _config(work: Path, name: str, problems: int, engine_args: dict | None, **kw):
    from factory import lab
    from generators.config import GenerateConfig

    return GenerateConfig(problems=str(lab.PROBLEMS), teacher=str(lab.TEACHER), out=work / name, limit=problems,
                          samples=4, max_tokens=lab.MAX_TOKENS,
                          engine_args=json.dumps(engine_args) if engine_args else None, **kw)


def _bare(backend, config) -> tuple[int, float]:
    from vllm import SamplingParams

    from generators.run import _inputs, pending_requests

    problems, _, prompter, tokenizer = _inputs(config, config.limit)
    requests = [r for r, _, _ in pending_requests(problems, config.samples, set(), prompter, tokenizer, config.seed)]
    params = [SamplingParams(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
                             seed=r.seed) for r in requests]
    t = time.perf_counter()
    outs = backend.llm.generate([{"prompt_token_ids": r.prompt_token_ids} for r in requests], params, use_tqdm=False)
    return sum(len(o.outputs[0].token_ids) for o in outs), time.perf_counter() - t


def _factory(backend, config) -> tuple[int, float]:
    from generators.run import main as run

    t = time.perf_counter()
    summary = run(config, backend=backend)
    return summary.completion_tokens, time.perf_counter() - t


def side_by_side(work: Path, args, winner: dict) -> dict[str, list[tuple[int, float]]]:
    from generators.backend import make_backend

    results: dict[str, list] = {"bare": [], "default": [], "tuned": []}
    for i in range(args.rounds):
        for side, engine_args in (("default", None), ("tuned", winner)):
            config = _config(work, f"{side}-{i}", args.problems, engine_args)
            backend = make_backend(config)
            try:
                if side == "default":
                    results["bare"].append(_bare(backend, config))
                results[side].append(_factory(backend, config))
            finally:
                backend.close()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tune-problems", type=int, default=12)
    ap.add_argument("--problems", type=int, default=16, help="problems of the side-by-side rounds")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    from factory.core import logs
    from generators import tune
    from generators.run import tune_engine

    print(cpu_line())
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        work = Path(tmp)
        logs.route(work / "bench.log")
        t = time.perf_counter()
        report = tune_engine(_config(work, "tune", args.problems, None, tune=True, tune_problems=args.tune_problems))
        print(f"\n1. the tuner: {args.tune_problems} lab problems x 4 samples, {time.perf_counter() - t:.0f}s")
        print(tune.table(report))
        print(f"\n2. side by side, {args.problems} lab problems x 4 samples, {args.rounds} rounds, fresh engines; "
              f"tuned = {json.dumps(report['engine_args']) or '(the default)'}")
        results = side_by_side(work, args, report["engine_args"])
    print(f"{'side':<10}{'round':>6}{'tokens':>10}{'seconds':>10}{'tok/s':>10}")
    rates = {}
    for side, runs in results.items():
        for i, (tokens, secs) in enumerate(runs):
            print(f"{side:<10}{i:>6}{tokens:>10}{secs:>10.2f}{tokens / secs:>10.0f}")
        rates[side] = statistics.median(t / s for t, s in runs)
    print(f"median output tok/s: bare {rates['bare']:,.0f}, default {rates['default']:,.0f}, "
          f"tuned {rates['tuned']:,.0f}; tuned/default = {rates['tuned'] / rates['default']:.2f}x, "
          f"default/bare = {rates['default'] / rates['bare']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
