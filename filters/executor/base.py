"""What an executor runs and promises.

An executor maps the judge step over batches of input rows (anywhere: worker processes, Ray
actors, with the math-verify calls in killable processes of its own), hands the settled verdicts
to the referee step (the generative judge, where one is configured, in the caller's process, which
holds its teacher: the local executor per window of batches, Ray's between its stages), and runs
the grouped step per group, each group's rows in input order. It hands back every input batch in
input order, each row with its decision; writing them is the output step's, in the caller's
process (filters/chain.py). Whatever the executor, the decisions are the same (tests/test_ray.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

from filters.pipeline.group import GroupStep
from filters.pipeline.judge import JudgeStep
from filters.pipeline.referee import Referee
from filters.pipeline.rows import Batch, RowView
from filters.source import TraceSource


@dataclass
class Steps:
    """The steps an executor runs, built and prepared in the caller's process."""

    view: RowView      # an input table → rows
    judge: JudgeStep   # rows → verdicts, anywhere
    referee: Referee   # settled verdicts → the generative judge's, in the caller's process
    group: GroupStep   # in input order within each group


class Executor(Protocol):
    unit: str   # what the output step's progress line counts

    def __enter__(self) -> "Executor":
        """Start what the executor needs before the run's first pass (a Ray connection)."""

    def __exit__(self, *exc) -> None: ...

    def run(self, steps: Steps, source: TraceSource) -> Iterator[Batch]:
        """Every batch of `source`, in input order, each row with its `Decision`."""
