"""CPU engine settings, side by side in one run: start-up and tokens/s of the lab teacher.

Each setting gets a fresh engine in its own process (a setting like the process model
cannot change inside one), in turn, on the same requests: the demo's generation
settings (bundled problems, temperature 1.0, top-p 0.95, per-sample seeds). Every
setting is measured twice, alternating, so machine noise hits all alike; the table
gives start-up (engine construction, imports excluded) and the median of two timed
passes after one warm-up pass.

    python bench/engine_settings.py [--problems 150] [--samples 4] [--only default,compiled]

Settings:
  default        what `factory.generate` picks here (generators/engine.py)
  compiled       the same, torch.compile on (enforce_eager False)
  processes      vLLM's own process layout (engine core + worker processes), eager
  bf16           the teacher's bf16 weights as they are (dtype auto without the CPU rule)
  threads2       default with OMP_NUM_THREADS=2 (torch intra-op threads on both cores)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETTINGS = {
    "default": ({}, {}),
    "compiled": ({"enforce_eager": False}, {}),
    "processes": ({"distributed_executor_backend": "mp"}, {"VLLM_ENABLE_V1_MULTIPROCESSING": "1"}),
    "bf16": ({"dtype": "bfloat16"}, {}),
    "threads2": ({}, {"OMP_NUM_THREADS": "2"}),
}


def worker(name: str, problems: int, samples: int) -> dict:
    """One setting in this process: start the engine, one warm-up pass, two timed passes."""
    from generators.engine import EngineBackend
    from generators.options import EngineOptions
    from factory import lab
    from factory.core.problems import load_problems
    from factory.core.prompts import load_template, render_prompt
    from generators.sampling import derive_seed

    overrides, _ = SETTINGS[name]
    options = EngineOptions(max_model_len=1024, engine_args=json.dumps(overrides) if overrides else None)
    t = time.perf_counter()
    backend = EngineBackend(str(lab.TEACHER), options)
    start = time.perf_counter() - t
    from vllm import SamplingParams

    llm = backend.llm
    tok = llm.get_tokenizer()
    template = load_template("math")
    prompts, params = [], []
    for p in load_problems(str(lab.PROBLEMS)).rows[:problems]:
        ids = tok.encode(render_prompt(tok, template.user_message(p["problem"])), add_special_tokens=False)
        for s in range(samples):
            prompts.append({"prompt_token_ids": ids})
            params.append(SamplingParams(temperature=1.0, top_p=0.95, max_tokens=1024,
                                         seed=derive_seed(0, p["problem_id"], s)))
    rates, tokens = [], 0
    for i in range(3):
        t = time.perf_counter()
        outs = llm.generate(prompts, params, use_tqdm=False)
        secs = time.perf_counter() - t
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        if i:
            rates.append(tokens / secs)
    info = backend.describe()
    backend.close()
    return {"setting": name, "start_s": start, "tok_s": rates, "tokens": tokens,
            "dtype": info["dtype_used"], "eager": info["enforce_eager"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=150)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--only", default=",".join(SETTINGS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.problems, args.samples)), flush=True)
        return 0

    from factory.core.machine import cpu_line

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    results: dict[str, list[dict]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for name in names:
            env = {**os.environ, **SETTINGS[name][1], "VLLM_CONFIGURE_LOGGING": "0"}
            proc = subprocess.run([sys.executable, __file__, "--worker", name, "--problems", str(args.problems),
                                   "--samples", str(args.samples)], env=env, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            results[name].append(json.loads(line[7:]))
    print(f"\nlab teacher, {args.problems} bundled problems x {args.samples} samples, temperature 1.0, top-p 0.95, "
          f"max 1024 tokens; {args.rounds} rounds, settings alternating")
    print(cpu_line())
    print(f"{'setting':<11}{'dtype':>15}{'eager':>7}{'start s':>9}{'tok/s':>8}   (runs)")
    base = None
    for name, runs in results.items():
        start = statistics.median(r["start_s"] for r in runs)
        rate = statistics.median(x for r in runs for x in r["tok_s"])
        base = base or rate
        print(f"{name:<11}{runs[0]['dtype']:>15}{str(runs[0]['eager']):>7}{start:>9.1f}{rate:>8.0f}   "
              f"({', '.join(f'{x:.0f}' for r in runs for x in r['tok_s'])}; {rate / base:.2f}x default)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
