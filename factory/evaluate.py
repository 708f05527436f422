"""Score a teacher or a student the way the R1 paper does: pass@1 over k samples, and cons@k,
with the paper's figures for the matching distilled model beside them.

usage:
  python -m factory.evaluate --model runs/student-7b/model \\
      --benchmarks aime24,math500,gpqa_diamond,livecodebench --k aime24=64 --out runs/eval-student-7b
  python -m factory.evaluate --model deepseek-ai/DeepSeek-R1 --benchmarks math500 \\
      --endpoints http://node1:8000,http://node2:8000 --out runs/eval-r1
  python -m factory.evaluate --model runs/lab/student-tiny \\
      --benchmarks gpqa_diamond_sample,livecodebench_sample --out runs/eval-fixtures
  python -m factory.evaluate --compare runs/eval-r1/results.json runs/eval-student-7b/results.json

With no arguments it scores the lab's tiny student (runs/lab/student-tiny) on the
lab's held-out problems. Benchmarks, comma-separated: shipped names (math500, aime24, amc23,
minerva_math, olympiadbench, gsm8k_test, lab, lab_general, and the offline fixtures
gpqa_diamond_sample, livecodebench_sample); gpqa_diamond (the gated Hub dataset: log in first)
and livecodebench (--code-release, --code-window: the R1 paper's 2024-08..2025-01 by default);
NAME=FILE for a local copy of those two; .jsonl/.parquet/.csv paths (their kind read from their
columns); Hub dataset ids. Protocol by default: the generation prompt (zero-shot, <think>),
temperature 0.6, top-p 0.95, up to 32,768 new tokens, k samples per problem (GPQA: its options
shuffled per sample from --shuffle-seed). Samples are generate runs under OUT/samples/, so an
interrupted evaluation resumes; grades are under OUT/graded/; scores go to OUT/results.json and
OUT/results.md (docs/evaluate.md).
"""

from __future__ import annotations

import sys

from factory import lab
from factory.core.cli import parse_config, quiet, run_cli
from factory.evaluation import EvaluateConfig, evaluate, load_results, markdown


def parse(argv: list[str]) -> EvaluateConfig:
    """The config; with no --model, the lab's tiny student on the lab's held-out problems."""
    named = any(a == "--model" or a.startswith("--model=") for a in argv)
    defaults = {"benchmarks": ["lab"], **({} if named else {"model": str(lab.DEFAULT_STUDENT_MODEL),
                                                            "out": lab.EVAL_OUT})}
    config = parse_config(EvaluateConfig, argv, prog="python -m factory.evaluate", doc=__doc__, defaults=defaults)
    return config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def go() -> int:
        config = parse(argv)
        if config.compare:
            print(markdown(load_results(config.compare)))
            return 0
        if config.dry_run:
            evaluate(config)
            return 0
        quiet(config, config.out, "evaluate")
        results = evaluate(config)
        print(markdown([results]))
        print(f"\nwrote {config.out / 'results.json'} and {config.out / 'results.md'}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
