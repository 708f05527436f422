"""The evaluation's code grading and a k = 4 evaluation of GPQA / LiveCodeBench, on the shipped fixtures.

1. Code grading throughput. A samples folder shaped like a generate run (traces/shard-000000.parquet,
   manifest.json) holds the shipped LiveCodeBench fixture (factory/data/benchmarks/livecodebench_sample.jsonl,
   every problem) answered by the reference programs of tests/lcb_solutions.py, a correct and a wrong
   one per problem, `--copies` times (7 problems x 2 programs x 8 = 112 programs by default). The
   evaluation's grader (factory/evaluation/scoring.py GRADER, every test run) grades it through
   filters.chain.run, side by side, `--repeats` times interleaved (the order turned each repeat):

     1 worker              FilterConfig(workers=1), the evaluation's batches for code
                           (factory/evaluation/scoring.py BATCH_ROWS: a few programs a pool task)
     N workers             one worker per core, the same batches (what grade_and_score runs)
     N workers, batch B    one worker per core, `--batch-rows` rows a batch (default 256, the
                           filter's own default, which the evaluation used at first: one batch
                           is one pool task, so one worker graded a whole small benchmark)

   Tests run are counted exactly from the verdicts: a correct program runs every test of its
   problem, a wrong one stops at its first failing test (`failed_test_K`: K + 1 tests run).

2. Evaluation wall time for k = 4: factory.evaluation.run.evaluate on gpqa_diamond_sample and
   livecodebench_sample (code window `all`) with the lab teacher (factory/data/lab/teacher) on the
   real in-process vLLM CPU engine, max_tokens = factory.lab.MAX_TOKENS. The run module's
   make_backend, generate and grade_and_score are wrapped with timers, so the engine start, the
   sampling and the grading of each benchmark are timed apart. The lab teacher only knows
   arithmetic: pass@1 near 0 on these is expected.

    python bench/evaluate_code.py [--copies 8] [--repeats 3] [--batch-rows 256] [--skip-engine] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def samples_dir(path: Path, copies: int) -> tuple[Path, dict[str, int], int]:
    """The fixture answered by its reference programs, `copies` times; (folder, tests per problem, programs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO / "tests"))
    from lcb_solutions import SOLUTIONS

    from factory.evaluation import benchmarks, livecodebench

    problems = livecodebench.load(benchmarks.resolve("livecodebench_sample"), window="all")
    rows = []
    for c in range(copies):
        for p in problems:
            for j, kind in enumerate(("correct", "wrong")):
                response = f"Here is my solution.\n\n```python\n{SOLUTIONS[p['id']][kind]}```\n"
                rows.append({**p, "problem_id": p["id"], "sample": 2 * c + j, "finish_reason": "stop",
                             "completion_tokens": 10, "reasoning": "Reference program.", "response": response,
                             "completion": f"<think>\nReference program.\n</think>\n\n{response}"})
    (path / "traces").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "traces" / "shard-000000.parquet")
    (path / "manifest.json").write_text("{}")
    return path, {p["id"]: len(json.loads(p["tests"])) for p in problems}, len(rows)


def tests_run(graded: Path, n_tests: dict[str, int]) -> tuple[int, Counter]:
    """Tests the grader ran (exact, from the verdicts) and the verdicts."""
    import pyarrow.parquet as pq

    total, verdicts = 0, Counter()
    for part in ("accepted", "rejected"):
        folder = graded / part
        if not folder.is_dir() or not list(folder.glob("*.parquet")):
            continue
        for row in pq.ParquetDataset(folder).read(columns=["problem_id", "reject_reason"]).to_pylist():
            reason = row["reject_reason"]
            verdicts["correct" if reason is None else "failed_test_K" if reason.startswith("failed_test_") else reason] += 1
            if reason is None:
                total += n_tests[row["problem_id"]]
            elif reason.startswith("failed_test_"):
                total += int(reason.rsplit("_", 1)[1]) + 1
            else:
                raise AssertionError(f"a reference program was graded {reason!r}")
    return total, verdicts


def grade_once(samples: Path, out: Path, workers: int, batch_rows: int | None) -> float:
    from factory.evaluation.scoring import GRADER
    from filters.chain import FilterRunConfig
    from filters.chain import run as grade
    from filters.config import FilterConfig

    from factory.evaluation.scoring import BATCH_ROWS

    t = time.perf_counter()
    grade(FilterRunConfig(input=str(samples), out=out, overwrite=True),
          FilterConfig(filters=json.loads(json.dumps(GRADER)), workers=workers, source="bench",
                       batch_rows=batch_rows or BATCH_ROWS["code"]))
    return time.perf_counter() - t


def part_grading(args, root: Path) -> None:
    from filters.sandbox import isolation

    print(f"sandbox: {isolation()}")
    samples, n_tests, programs = samples_dir(root / "samples", args.copies)
    cores = os.cpu_count() or 1
    sides = {"1 worker": (1, None), f"{cores} workers": (cores, None),
             f"{cores} workers, batch {args.batch_rows}": (cores, args.batch_rows)}
    print(f"\n1. code grading: {len(n_tests)} problems x 2 reference programs (correct, wrong) x {args.copies} "
          f"copies = {programs} programs, {sum(n_tests.values())} tests in the fixture "
          f"({args.repeats} repeats, interleaved)")
    grade_once(samples, root / "warm", 1, None)   # imports, the first sandbox: out of the timings
    times: dict[str, list[float]] = {name: [] for name in sides}
    counts: dict[str, tuple] = {}
    for r in range(args.repeats):
        order = list(sides) if r % 2 == 0 else list(sides)[::-1]
        for name in order:
            workers, batch = sides[name]
            out = root / f"graded-{r}-{workers}-{batch}"
            times[name].append(grade_once(samples, out, workers, batch))
            got = tests_run(out, n_tests)
            assert counts.setdefault(name, got) == got, (name, got, counts[name])
            shutil.rmtree(out, ignore_errors=True)
    assert len({c for c, _ in counts.values()}) == 1, counts
    ran, verdicts = next(iter(counts.values()))
    print(f"verdicts: {dict(verdicts)}; tests run: {ran:,} (correct programs every test, wrong ones to the first failure)")
    print(f"{'side':<24}{'median s':>10}{'min s':>8}{'programs/s':>12}{'tests/s':>10}{'speedup':>9}")
    base = statistics.median(times["1 worker"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<24}{med:>10.2f}{min(ts):>8.2f}{programs / med:>12.1f}{ran / med:>10.1f}{base / med:>8.2f}x")


def part_evaluation(root: Path, verbose: bool) -> None:
    import factory.evaluation.run as run_mod
    from factory import lab
    from factory.core import logs
    from factory.evaluation.run import EvaluateConfig, evaluate

    timed: dict[str, float] = Counter()
    current = {"bench": None}

    def wrap(name, fn):
        def inner(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                key = name if name == "engine start" else f"{current['bench']}/{name}"
                timed[key] += time.perf_counter() - t
        return inner

    def generate(gen, *a, **kw):
        current["bench"] = Path(gen.out).name
        return wrap("sampling", real_generate)(gen, *a, **kw)

    real_generate, real_grade, real_backend = run_mod.generate, run_mod.grade_and_score, run_mod.make_backend
    run_mod.generate, run_mod.grade_and_score = generate, wrap("grading", real_grade)
    run_mod.make_backend = wrap("engine start", real_backend)
    names = ["gpqa_diamond_sample", "livecodebench_sample"]
    print(f"\n2. evaluation, k = 4, model {lab.TEACHER.relative_to(REPO)} (in-process vLLM, CPU), "
          f"max_tokens {lab.MAX_TOKENS}, code window all")
    logs.route(root / "evaluate.log", verbose)   # vLLM's own logs off the screen, as `factory.evaluate` does
    try:
        t = time.perf_counter()
        results = evaluate(EvaluateConfig(model=str(lab.TEACHER), out=root / "eval", benchmarks=names, samples=4,
                                          max_tokens=lab.MAX_TOKENS, code_window="all"))
        wall = time.perf_counter() - t
    finally:
        run_mod.generate, run_mod.grade_and_score, run_mod.make_backend = real_generate, real_grade, real_backend
    rest = wall - sum(timed.values())
    print(f"total wall {wall:.1f} s = engine start {timed['engine start']:.1f} s + sampling "
          f"{sum(v for k, v in timed.items() if k.endswith('/sampling')):.1f} s + grading "
          f"{sum(v for k, v in timed.items() if k.endswith('/grading')):.1f} s + the rest "
          f"(preparing, results files, engine close) {rest:.1f} s")
    print(f"{'benchmark':<22}{'problems':>9}{'samples':>8}{'sampling s':>11}{'grading s':>10}{'pass@1':>8}  verdicts; finish reasons")
    for name in names:
        b = results["benchmarks"][name]
        print(f"{name:<22}{b['problems']:>9}{b['samples']:>8}{timed[f'{name}/sampling']:>11.1f}"
              f"{timed[f'{name}/grading']:>10.1f}{b['pass@1']:>8.3f}  {b['verdicts']}; {b['finish_reasons']}")
    print("(the lab teacher is trained on arithmetic only: pass@1 near 0 on GPQA and code is expected)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=8, help="copies of the 14 reference programs")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of each grading side")
    ap.add_argument("--batch-rows", type=int, default=256, help="rows per batch of the third grading side (the filter's default)")
    ap.add_argument("--skip-engine", action="store_true", help="code grading only (no vLLM evaluation)")
    ap.add_argument("--verbose", action="store_true", help="show vLLM's own logs")
    args = ap.parse_args()

    print(cpu_line())
    root = Path(tempfile.mkdtemp(prefix="bench-evaluate-code-"))
    try:
        part_grading(args, root)
        if not args.skip_engine:
            part_evaluation(root, args.verbose)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
