"""Sample long chain-of-thought traces from a teacher into resumable Parquet shards.

usage:
  python -m factory.generate               # the lab: bundled teacher and problems → runs/lab/generate
  python -m factory.generate --problems problems.jsonl --teacher deepseek-ai/DeepSeek-R1 \\
      --tensor-parallel-size 8 --samples 4 --out runs/r1-math
  python -m factory.generate --problems data/ --teacher deepseek-ai/DeepSeek-R1 \\
      --endpoints http://node1:8000,http://node2:8000 --out runs/r1-math    # implies --backend farm
  python -m factory.generate --problems problems.jsonl --teacher deepseek-ai/DeepSeek-R1 \\
      --backend ray --ray-address auto --replicas 8 --tensor-parallel-size 8 --pipeline-parallel-size 2 \\
      --out runs/r1-math --dry-run
  python -m factory.generate --problems problems.jsonl --teacher deepseek-ai/DeepSeek-R1 --tune --out runs/tune
  python -m factory.generate --plan-for 800000 --pilot runs/pilot-filtered --samples 4 --gpus 64 \\
      --tensor-parallel-size 8                      # or: --backend ray --ray-address auto --replicas 8 ...

R1 protocol: zero-shot user turn "<problem>\\nPlease reason step by step, and put your
final answer within \\boxed{}.", the teacher's chat template, response forced to open
with "<think>\\n"; temperature 0.6, top-p 0.95, up to 32,768 new tokens.
Rerun the same command after a crash to finish the run: every (problem, sample)
pair ends up on disk exactly once. Bad input exits with code 2 before writing.
"""

from __future__ import annotations

import sys

from factory import lab
from factory.core.cli import parse_config, quiet, run_cli
from generators import pilot
from generators import tune as tuning
from generators.config import GenerateConfig
from generators.run import main as run
from generators.run import tune_engine


def parse(argv: list[str] | None) -> GenerateConfig:
    """The run's config; with no --problems/--teacher/--out, the lab's (factory/lab)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    defaults = dict(lab.GENERATE_DEFAULTS)
    if not any(a == "--teacher" or a.startswith("--teacher=") for a in argv):
        defaults["max_tokens"] = lab.MAX_TOKENS  # the lab teacher's context, as the demo samples it
    return parse_config(GenerateConfig, argv, prog="python -m factory.generate", doc=__doc__, defaults=defaults)


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        config = parse(argv)
        if config.plan_for:   # a plan from a pilot: reads the pilot, starts and writes nothing
            found = pilot.read_pilot(config.pilot)
            where = pilot.cluster(config, found)   # --gpus, TP x PP, a Ray cluster, or what the pilot held
            print("\n".join(pilot.lines(pilot.plan(found, config.plan_for, config.samples, where), found)))
            return 0
        if config.tune:   # trials of engine settings: OUT/trials.json, OUT/engine-args.json, no traces
            quiet(config, config.out, "tune")
            print(tuning.table(tune_engine(config)))
            print(f"\nwrote {config.out / tuning.ARGS_FILE}: give it to the run with --engine-args "
                  f"{config.out / tuning.ARGS_FILE}")
            return 0
        if not config.dry_run:
            quiet(config, config.out, "generate")
        summary = run(config)
        if summary is not None:
            print(summary.table())
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
