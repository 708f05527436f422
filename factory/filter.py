"""Rejection sampling: keep only correct, single-language, readable, novel traces.

usage:
  python -m factory.filter --input runs/r1-math --out runs/r1-math-filtered
  python -m factory.filter --input open-r1/OpenR1-Math-220k --out runs/openr1-refiltered \\
      --problem-column problem --answer-column answer --completion-column generation \\
      --config my-filters.yaml
  python -m factory.filter                 # the lab's traces: runs/lab/generate → runs/lab/filter

Input: a generate run directory, Parquet / JSONL files or a folder of them, or a Hub
dataset. Output: OUT/accepted/*.parquet, OUT/rejected/*.parquet (every input column,
plus reject_reason, reject_filter and reject_detail, the evidence), OUT/stats.json (the
funnel per filter, domain and source, the yield, leaks per benchmark),
OUT/problems.parquet (samples, correct and accepted per problem) and OUT/funnel.png.
accepted + rejected = input, checked before OUT is written. Filters, order and
thresholds: filters/default.yaml (override with --config).
"""

from __future__ import annotations

import sys

from factory import lab
from factory.core.cli import parse_config, quiet, run_cli
from filters.chain import FilterRunConfig, run
from generators.backend import JudgeTeachers


def parse(argv: list[str] | None):
    """The run's config; with no --input/--out, the lab's generate run → runs/lab/filter."""
    return parse_config(FilterRunConfig, argv, prog="python -m factory.filter", doc=__doc__,
                        defaults=lab.FILTER_DEFAULTS)


def main(argv: list[str] | None = None) -> int:
    def go() -> int:
        config = parse(argv)
        quiet(config, config.out, "filter", beside=True)
        report = run(config, teachers=JudgeTeachers())
        print(report.table())
        print(f"check: {report.accepted:,} accepted + {report.input_rows - report.accepted:,} rejected = "
              f"{report.input_rows:,} input rows")
        print(f"wrote {config.out}/accepted, {config.out}/rejected, {config.out}/stats.json, "
              f"{config.out}/problems.parquet, {config.out}/funnel.png")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
