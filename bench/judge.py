"""The generative judge on this machine: throughput with the lab teacher as judge, the verdict
cache on a rerun, and the same filter run with the judge off, side by side in one run.

    python bench/judge.py [--rows 240] [--samples 2]

Corpus: `--rows` traces of lab-style problems whose responses mark no final answer (the rule
says `no_answer`, so every row goes to the judge under the default `when: undecided`), each
problem's samples giving the same answer (one prompt per problem, as a real run's agreeing
samples do). The lab teacher (factory/data/lab/teacher) judges on the real in-process vLLM
engine, its reply constrained to the verdict's JSON; its verdicts are nonsense (it never learnt
to judge): what is measured is what a judge call costs here, not what it decides.

Four runs of `factory.filter` on the same input: with the judge and an empty cache (judge
throughput: prompts and rows per second, completion tokens per second), again into another
folder (every verdict from the cache: hit rate and seconds), with no judge, and with the judge
replying in free text (`structured: false`: a new identity, so a cold cache again).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.lab import TEACHER  # noqa: E402
from filters.chain import FilterRunConfig, run  # noqa: E402
from generators.backend import JudgeTeachers  # noqa: E402
from factory.core.machine import cpu_line  # noqa: E402


def corpus(path: Path, rows: int, samples: int) -> Path:
    with open(path, "w") as f:
        for i in range(rows):
            p = i // samples
            a, b = 3 * p + 1, 7 * p + 2
            f.write(json.dumps({"problem_id": f"q{p}", "problem": f"What is {a} + {b}?", "answer": str(a + b),
                                "completion": f"<think>\n{a} + {b}: add the units, then the tens. Wait, carry "
                                              f"the one.\n</think>\nAdding them gives {a + b + p % 2}."}) + "\n")
    return path


def one(traces: Path, out: Path, config: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    run(FilterRunConfig(input=str(traces), out=out, config=config, workers=1), teachers=JudgeTeachers())
    return time.perf_counter() - t0, json.loads((out / "stats.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=240)
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    traces = corpus(tmp / "traces.jsonl", args.rows, args.samples)
    judge = {"model": str(TEACHER), "max_tokens": 64, "cache": str(tmp / "judge.sqlite"), "batch": 256}
    with_judge, free, without = tmp / "judge.yaml", tmp / "free.yaml", tmp / "plain.yaml"
    with_judge.write_text("filters:\n  format: {}\n  correctness:\n    judge: " + json.dumps(judge) + "\n")
    free.write_text("filters:\n  format: {}\n  correctness:\n    judge: "
                    + json.dumps({**judge, "structured": False}) + "\n")
    without.write_text("filters:\n  format: {}\n  correctness: {}\n")

    cold_s, cold = one(traces, tmp / "cold", with_judge)
    warm_s, warm = one(traces, tmp / "warm", with_judge)
    off_s, off = one(traces, tmp / "off", without)
    free_s, unconstrained = one(traces, tmp / "free", free)
    j, w, u = cold["judge"], warm["judge"], unconstrained["judge"]
    print(cpu_line())
    print(f"corpus: {args.rows} traces, {args.rows // args.samples} problems, every row undecided by the rule")
    print(f"judge, cold cache: {j['rows']} rows, {j['asked']} prompts asked in {j['seconds']:.1f} s of judging "
          f"({j['asked'] / max(j['seconds'], 1e-9):.1f} prompts/s, {j['rows'] / max(j['seconds'], 1e-9):.1f} rows/s, "
          f"{j['completion_tokens'] / max(j['seconds'], 1e-9):,.0f} completion tok/s, "
          f"{j['prompt_tokens'] / max(j['asked'], 1):.0f} prompt tokens each); whole run {cold_s:.1f} s "
          f"(engine start included)")
    print(f"  verdicts: {j['verdicts']} (unreadable {j['unreadable']})")
    print(f"judge, cold cache, free text (structured: false): {u['asked']} prompts in {u['seconds']:.1f} s "
          f"({u['asked'] / max(u['seconds'], 1e-9):.1f} prompts/s, "
          f"{u['completion_tokens'] / max(u['seconds'], 1e-9):,.0f} completion tok/s); verdicts {u['verdicts']}")
    print(f"judge, rerun: {w['cache_hits']} of {w['rows']} rows from the cache "
          f"({100 * w['cache_hits'] / max(w['rows'], 1):.0f}% hit rate), {w['asked']} asked; whole run {warm_s:.1f} s")
    print(f"judge off: whole run {off_s:.1f} s ({off['input_rows'] / off_s:,.0f} rows/s)")


if __name__ == "__main__":
    main()
