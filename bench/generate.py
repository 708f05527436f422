"""Generation throughput: bare `vllm.LLM.generate` vs the factory's path, one engine, one run.

Both sides get the same requests (same token ids, same per-sample seeds, so
the same outputs) on the same engine; engine start-up is excluded. The
factory's side is the whole `generators.run.main`: loading problems,
rendering prompts, streaming completions out of the engine, building rows,
writing zstd Parquet shards and the manifest. Passes alternate
(bare, factory, bare, factory, …) so machine noise hits both alike.

    python bench/generate.py [--problems 64] [--samples 4] [--max-tokens 256] [--rounds 3]

Goal (issue 2): factory output tokens/s ≥ 0.90 × bare engine.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", help="model dir (default: the tiny teacher, built here)")
    args = ap.parse_args()

    from vllm import LLM, SamplingParams

    from factory.lab.tiny_model import build_tiny_model
    from generators.config import GenerateConfig
    from generators.engine import EngineBackend
    from generators.problems import load_problems
    from generators.prompts import load_template, render_prompt
    from generators.run import main as run
    from generators.sampling import derive_seed

    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    model = args.model or str(build_tiny_model(work / "teacher"))
    problems = work / "problems.jsonl"
    with open(problems, "w") as f:
        for i in range(args.problems):
            f.write(json.dumps({"id": f"b{i}", "problem": f"Let n = {i}. Compute n^2 + {i % 7}n + 1 and "
                                                          f"explain every step.", "answer": "0"}) + "\n")

    from generators.engine import apply_platform_defaults

    settings = apply_platform_defaults(dict(max_model_len=2048, enforce_eager=True, seed=0))
    print(f"engine dtype: {settings['dtype']} ({settings.pop('dtype_reason')})")
    llm = LLM(model=model, **settings)
    tok = llm.get_tokenizer()
    template = load_template("math")
    bare_prompts, bare_params = [], []
    for p in load_problems(str(problems)).rows:
        ids = tok.encode(render_prompt(tok, template.user_message(p["problem"])), add_special_tokens=False)
        for s in range(args.samples):
            bare_prompts.append({"prompt_token_ids": ids})
            bare_params.append(SamplingParams(temperature=0.6, top_p=0.95, max_tokens=args.max_tokens,
                                              seed=derive_seed(0, p["problem_id"], s)))
    backend = EngineBackend(model, llm=llm)

    def bare() -> tuple[int, float]:
        t = time.perf_counter()
        outs = llm.generate(bare_prompts, bare_params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outs), time.perf_counter() - t

    def factory(i: int) -> tuple[int, float]:
        t = time.perf_counter()
        summary = run(GenerateConfig(problems=str(problems), teacher=model, out=work / f"run{i}",
                                     samples=args.samples, max_tokens=args.max_tokens), backend=backend)
        return summary.completion_tokens, time.perf_counter() - t

    bare()  # warm-up: first batches pay one-off costs
    results = {"bare": [], "factory": []}
    for i in range(args.rounds):
        results["bare"].append(bare())
        results["factory"].append(factory(i))

    n = args.problems * args.samples
    print(f"\n{n} requests ({args.problems} problems x {args.samples} samples), max {args.max_tokens} new "
          f"tokens, tiny Qwen2 teacher on CPU, {args.rounds} alternating rounds")
    print(f"{'path':<10}{'round':>6}{'tokens':>10}{'seconds':>10}{'tok/s':>10}")
    rates = {}
    for name, runs in results.items():
        for i, (tokens, secs) in enumerate(runs):
            print(f"{name:<10}{i:>6}{tokens:>10}{secs:>10.2f}{tokens / secs:>10.0f}")
        rates[name] = statistics.median(t / s for t, s in runs)
    assert {t for t, _ in results["bare"]} == {t for t, _ in results["factory"]}, "both sides must do the same work"
    ratio = rates["factory"] / rates["bare"]
    print(f"\nmedian output tok/s: bare {rates['bare']:.0f}, factory {rates['factory']:.0f}; "
          f"factory/bare = {ratio:.3f} (goal >= 0.90) {'PASS' if ratio >= 0.90 else 'MISS'}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
