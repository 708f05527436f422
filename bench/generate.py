"""Generation throughput: bare `vllm.LLM.generate` vs the factory's path, and tuned vs default engines.

Both sides get the same requests (same token ids, same per-sample seeds, so
the same outputs) on the same engine; engine start-up is reported, not timed
in the rates. The factory's side is the whole `generators.run.main`: loading
problems, rendering prompts, streaming completions out of the engine,
building rows, writing zstd Parquet shards and the manifest. Passes alternate
(bare, factory, bare, factory, …) so machine noise hits both alike.

Three workloads, each on the engine `factory.generate` builds on this machine
(dtype, eager/compiled and process layout from generators/engine.py):

  tiny   a random tiny Qwen2 (built here), made-up problems, temperature 0.6, 256 new tokens
  lab    the bundled lab teacher on the bundled problems at the demo's former settings
         (temperature 1.0, top-p 0.95, up to 1024 tokens; the demo now samples at 0.6 with
         384), kept so figures compare across runs; a slow engine on some CPU shows
  tuned  the engine tuner (issue 28) on the lab teacher at the demo's settings: what
         `factory.generate --tune` finds on the first --tune-problems bundled problems (4 samples,
         temperature 0.6, top-p 0.95, up to factory.lab.MAX_TOKENS new tokens), then rounds of
           bare     vllm.LLM.generate on the default engine: the same token ids and seeds
           default  the factory's whole path on the default engine
           tuned    the factory's whole path on an engine with the winner's arguments
         each round with fresh engines (their start not timed), medians over the rounds

    python bench/generate.py [--only tiny,lab,tuned] [--problems 64] [--lab-problems 150] [--samples 4]
                             [--rounds 3] [--tune-problems 12] [--tuned-problems 16] [--tuned-rounds 2]

Goal (issue 2): factory output tokens/s >= 0.90 x bare engine.
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


def _workload(name: str, args, work: Path) -> dict:
    from factory import lab
    from factory.lab.tiny_model import build_tiny_model

    if name == "lab":
        return {"model": str(lab.TEACHER), "problems": str(lab.PROBLEMS), "limit": args.lab_problems,
                "temperature": 1.0, "max_tokens": 1024, "max_model_len": 1024}
    problems = work / "problems.jsonl"
    with open(problems, "w") as f:
        for i in range(args.problems):
            f.write(json.dumps({"id": f"b{i}", "problem": f"Let n = {i}. Compute n^2 + {i % 7}n + 1 and "
                                                          f"explain every step.", "answer": "0"}) + "\n")
    return {"model": str(build_tiny_model(work / "teacher")), "problems": str(problems), "limit": args.problems,
            "temperature": 0.6, "max_tokens": args.max_tokens, "max_model_len": 2048}


def measure(name: str, args, work: Path) -> dict:
    from vllm import SamplingParams

    from generators.config import GenerateConfig
    from generators.engine import EngineBackend
    from generators.options import EngineOptions
    from factory.core.problems import load_problems
    from factory.core.prompts import load_template, render_prompt
    from generators.run import main as run
    from generators.sampling import derive_seed

    w = _workload(name, args, work)
    t = time.perf_counter()
    backend = EngineBackend(w["model"], EngineOptions(max_model_len=w["max_model_len"]))
    start_s = time.perf_counter() - t
    llm = backend.llm
    tok = llm.get_tokenizer()
    template = load_template("math")
    bare_prompts, bare_params = [], []
    for p in load_problems(w["problems"], limit=w["limit"]).rows:
        ids = tok.encode(render_prompt(tok, template.user_message(p["problem"])), add_special_tokens=False)
        for s in range(args.samples):
            bare_prompts.append({"prompt_token_ids": ids})
            bare_params.append(SamplingParams(temperature=w["temperature"], top_p=0.95, max_tokens=w["max_tokens"],
                                              seed=derive_seed(0, p["problem_id"], s)))

    def bare() -> tuple[int, float]:
        t = time.perf_counter()
        outs = llm.generate(bare_prompts, bare_params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs), time.perf_counter() - t

    def factory(i: int) -> tuple[int, float]:
        t = time.perf_counter()
        summary = run(GenerateConfig(problems=w["problems"], teacher=w["model"], out=work / f"{name}-run{i}",
                                     limit=w["limit"], samples=args.samples, max_tokens=w["max_tokens"],
                                     temperature=w["temperature"]), backend=backend)
        return summary.completion_tokens, time.perf_counter() - t

    bare()  # warm-up: first batches pay one-off costs
    results = {"bare": [], "factory": []}
    for i in range(args.rounds):
        results["bare"].append(bare())
        results["factory"].append(factory(i))
    info = backend.describe()
    backend.close()
    assert {t for t, _ in results["bare"]} == {t for t, _ in results["factory"]}, "both sides must do the same work"
    rates = {k: statistics.median(t / s for t, s in runs) for k, runs in results.items()}
    return {"name": name, "requests": len(bare_prompts), "w": w, "results": results, "rates": rates,
            "start_s": start_s, "dtype": info["dtype_used"], "why": info["dtype_reason"],
            "eager": info["enforce_eager"], "layout": info.get("distributed_executor_backend", "mp")}


def _rounds(results: dict[str, list[tuple[int, float]]], first: str = "path") -> None:
    """Each side's rounds: tokens, seconds, tokens/s."""
    print(f"{first:<10}{'round':>6}{'tokens':>10}{'seconds':>10}{'tok/s':>10}")
    for side, runs in results.items():
        for i, (tokens, secs) in enumerate(runs):
            print(f"{side:<10}{i:>6}{tokens:>10}{secs:>10.2f}{tokens / secs:>10.0f}")


def report(m: dict) -> float:
    w = m["w"]
    print(f"\n[{m['name']}] {m['requests']} requests, temperature {w['temperature']}, top-p 0.95, max "
          f"{w['max_tokens']} new tokens, {Path(w['model']).name}; engine: dtype {m['dtype']} ({m['why']}), "
          f"{'eager' if m['eager'] else 'compiled'}, executor {m['layout']}, start-up {m['start_s']:.1f}s")
    _rounds(m["results"])
    ratio = m["rates"]["factory"] / m["rates"]["bare"]
    print(f"median output tok/s: bare {m['rates']['bare']:,.0f}, factory {m['rates']['factory']:,.0f}; "
          f"factory/bare = {ratio:.3f} (goal >= 0.90) {'PASS' if ratio >= 0.90 else 'MISS'}")
    return ratio


def _lab_config(work: Path, name: str, problems: int, engine_args: dict | None, **kw):
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


def _side_by_side(work: Path, args, winner: dict) -> dict[str, list[tuple[int, float]]]:
    from generators.backend import make_backend

    results: dict[str, list] = {"bare": [], "default": [], "tuned": []}
    for i in range(args.tuned_rounds):
        for side, engine_args in (("default", None), ("tuned", winner)):
            config = _lab_config(work, f"{side}-{i}", args.tuned_problems, engine_args)
            backend = make_backend(config)
            try:
                if side == "default":
                    results["bare"].append(_bare(backend, config))
                results[side].append(_factory(backend, config))
            finally:
                backend.close()
    return results


def tuned(args, work: Path) -> None:
    """The `tuned` workload: the tuner, then tuned vs default vs bare side by side (issue 28)."""
    from factory import lab
    from factory.core import logs
    from generators import tune
    from generators.run import tune_engine

    logs.route(work / "bench.log")
    t = time.perf_counter()
    report = tune_engine(_lab_config(work, "tune", args.tuned_problems, None, tune=True,
                                     tune_problems=args.tune_problems))
    print(f"\n[tuned] 1. the tuner: {args.tune_problems} lab problems x 4 samples, temperature 0.6, top-p 0.95, "
          f"max {lab.MAX_TOKENS} new tokens, {time.perf_counter() - t:.0f}s")
    print(tune.table(report))
    print(f"\n[tuned] 2. side by side, {args.tuned_problems} lab problems x 4 samples, {args.tuned_rounds} rounds, "
          f"fresh engines; tuned = {json.dumps(report['engine_args']) or '(the default)'}")
    results = _side_by_side(work, args, report["engine_args"])
    _rounds(results, first="side")
    rates = {side: statistics.median(t / s for t, s in runs) for side, runs in results.items()}
    print(f"median output tok/s: bare {rates['bare']:,.0f}, default {rates['default']:,.0f}, "
          f"tuned {rates['tuned']:,.0f}; tuned/default = {rates['tuned'] / rates['default']:.2f}x, "
          f"default/bare = {rates['default'] / rates['bare']:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="tiny,lab,tuned", help="workloads: tiny, lab, tuned")
    ap.add_argument("--problems", type=int, default=64, help="tiny workload: problems")
    ap.add_argument("--lab-problems", type=int, default=150, help="lab workload: bundled problems")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256, help="tiny workload: new tokens")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tune-problems", type=int, default=12, help="tuned workload: the tuner's problems")
    ap.add_argument("--tuned-problems", type=int, default=16, help="tuned workload: side-by-side problems")
    ap.add_argument("--tuned-rounds", type=int, default=2, help="tuned workload: side-by-side rounds")
    args = ap.parse_args()

    from factory.core.machine import cpu_line

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    print(cpu_line())
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        work = Path(tmp)
        measured = [measure(name, args, work) for name in names if name != "tuned"]
        print("\n" + cpu_line())
        for m in measured:
            report(m)
        if "tuned" in names:   # last: it routes the factory's log lines to a file
            tuned(args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
