"""Generation throughput: bare `vllm.LLM.generate` vs the factory's path, one engine, one run.

Both sides get the same requests (same token ids, same per-sample seeds, so
the same outputs) on the same engine; engine start-up is reported, not timed
in the rates. The factory's side is the whole `generators.run.main`: loading
problems, rendering prompts, streaming completions out of the engine,
building rows, writing zstd Parquet shards and the manifest. Passes alternate
(bare, factory, bare, factory, …) so machine noise hits both alike.

Two workloads, each on the engine `factory.generate` builds on this machine
(dtype, eager/compiled and process layout from generators/engine.py):

  tiny   a random tiny Qwen2 (built here), made-up problems, temperature 0.6, 256 new tokens
  lab    the bundled lab teacher on the bundled problems at the demo's former settings
         (temperature 1.0, top-p 0.95, up to 1024 tokens; the demo now samples at 0.6 with
         384), kept so figures compare across runs; a slow engine on some CPU shows

    python bench/generate.py [--only tiny,lab] [--problems 64] [--lab-problems 150] [--samples 4] [--rounds 3]

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


def report(m: dict) -> float:
    w = m["w"]
    print(f"\n[{m['name']}] {m['requests']} requests, temperature {w['temperature']}, top-p 0.95, max "
          f"{w['max_tokens']} new tokens, {Path(w['model']).name}; engine: dtype {m['dtype']} ({m['why']}), "
          f"{'eager' if m['eager'] else 'compiled'}, executor {m['layout']}, start-up {m['start_s']:.1f}s")
    print(f"{'path':<10}{'round':>6}{'tokens':>10}{'seconds':>10}{'tok/s':>10}")
    for path, runs in m["results"].items():
        for i, (tokens, secs) in enumerate(runs):
            print(f"{path:<10}{i:>6}{tokens:>10}{secs:>10.2f}{tokens / secs:>10.0f}")
    ratio = m["rates"]["factory"] / m["rates"]["bare"]
    print(f"median output tok/s: bare {m['rates']['bare']:,.0f}, factory {m['rates']['factory']:,.0f}; "
          f"factory/bare = {ratio:.3f} (goal >= 0.90) {'PASS' if ratio >= 0.90 else 'MISS'}")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="tiny,lab", help="workloads: tiny, lab")
    ap.add_argument("--problems", type=int, default=64, help="tiny workload: problems")
    ap.add_argument("--lab-problems", type=int, default=150, help="lab workload: bundled problems")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256, help="tiny workload: new tokens")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from factory.core.machine import cpu_line

    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    measured = [measure(name.strip(), args, work) for name in args.only.split(",") if name.strip()]
    print("\n" + cpu_line())
    for m in measured:
        report(m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
