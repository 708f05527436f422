"""Generation on Ray vs the in-process engine: the lab teacher, the same work, one run.

Three setups, each run as `generators.run.main` in a fresh process (so no engine, Ray
instance or thread setting carries over), on the same problems with the same seeds:

  engine   the default backend: one vLLM engine in the factory's process
  ray-1    --backend ray, one replica holding every CPU (a local Ray instance)
  ray-2    --backend ray, two replicas of half the CPUs each

Each setup runs N and 2N problems. Whole-run time includes everything a user waits for
(Ray start, replica start, vLLM import and engine start); the marginal time per trace,
(T(2N) - T(N)) / (2N - N traces), is the steady state with the fixed costs taken out, and
is what the overhead goal is about. Sizes alternate between setups so machine noise hits
all alike. The rows written must be identical across setups (same seeds): checked.

    python bench/ray_generate.py [--problems 300] [--samples 4] [--max-tokens 1024] [--only engine,ray-1,ray-2]

Goal (issue 15): Ray at one replica within 10% of the in-process engine's marginal rate.
On a 2-core CPU the two-replica figure is CPU-bound (two engines share two cores); it is
reported as measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.core.machine import cpu_line  # noqa: E402

SETUPS = {"engine": {}, "ray-1": {"backend": "ray", "replicas": 1},
          "ray-2": {"backend": "ray", "replicas": 2}}


def child(setup: str, problems: int, args, out: Path) -> dict:
    """One run, in this (fresh) process."""
    from factory import lab
    from generators.config import GenerateConfig
    from generators.run import main as run

    extra = dict(SETUPS[setup])
    if extra.get("replicas"):
        extra["cpus_per_replica"] = max(1, (os.cpu_count() or 1) // extra["replicas"])
        extra["ray_batch_size"] = args.batch_size
    config = GenerateConfig(problems=str(lab.PROBLEMS), teacher=str(lab.TEACHER), out=out, limit=problems,
                            samples=args.samples, temperature=1.0, max_tokens=args.max_tokens,
                            max_model_len=args.max_tokens, **extra)
    t0 = time.monotonic()
    summary = run(config)
    wall = time.monotonic() - t0
    return {"setup": setup, "problems": problems, "wall": wall, "rows": summary.rows,
            "tokens": summary.completion_tokens, "stats": summary.backend_stats}


def rows_of(out: Path) -> dict:
    import pyarrow.parquet as pq

    from factory.core.shards import shard_paths

    rows = {}
    for p in shard_paths(out / "traces"):
        for r in pq.read_table(p, columns=["problem_id", "sample", "completion"]).to_pylist():
            rows[(r["problem_id"], r["sample"])] = r["completion"]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=300, help="N: the small run's problems (the large has 2N)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32, help="--ray-batch-size")
    ap.add_argument("--only", default=",".join(SETUPS))
    ap.add_argument("--child", nargs=3, metavar=("SETUP", "PROBLEMS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        setup, n, out = args.child
        print("RESULT " + json.dumps(child(setup, int(n), args, Path(out))), flush=True)
        return 0
    setups = [s for s in args.only.split(",") if s in SETUPS]
    sizes = (args.problems, 2 * args.problems)
    print(f"{cpu_line()}; lab teacher, {args.samples} samples, "
          f"temperature 1.0, up to {args.max_tokens} tokens; N = {sizes[0]}, 2N = {sizes[1]} problems", flush=True)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        for size in sizes:
            for setup in setups:
                out = Path(tmp) / f"{setup}-{size}"
                cmd = [sys.executable, __file__, "--child", setup, str(size), str(out),
                       "--samples", str(args.samples), "--max-tokens", str(args.max_tokens),
                       "--batch-size", str(args.batch_size)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                    return 1
                r = json.loads(line[len("RESULT "):])
                r["rows_seen"] = rows_of(out)
                results[(setup, size)] = r
                print(f"  {setup:7s} {size:4d} problems: {r['wall']:6.1f} s, {r['rows']} traces, "
                      f"{r['tokens']:,} tokens", flush=True)
    base = setups[0]
    print(f"\n{'setup':8s} {'T(N) s':>8s} {'T(2N) s':>8s} {'whole tok/s':>12s} {'marginal tok/s':>15s} "
          f"{'vs ' + base:>10s}  identical rows")
    marginal = {}
    for setup in setups:
        a, b = results[(setup, sizes[0])], results[(setup, sizes[1])]
        marginal[setup] = (b["tokens"] - a["tokens"]) / max(1e-9, b["wall"] - a["wall"])
        same = all(results[(setup, s)]["rows_seen"] == results[(base, s)]["rows_seen"] for s in sizes)
        print(f"{setup:8s} {a['wall']:8.1f} {b['wall']:8.1f} {b['tokens'] / b['wall']:12,.0f} "
              f"{marginal[setup]:15,.0f} {marginal[setup] / marginal[base]:9.2f}x  {'yes' if same else 'NO'}")
    if "ray-1" in marginal and base == "engine":
        overhead = 1 - marginal["ray-1"] / marginal["engine"]
        print(f"\nRay overhead at one replica: {overhead:+.1%} of the in-process engine's marginal rate "
              f"(goal <= 10%); {cpu_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
