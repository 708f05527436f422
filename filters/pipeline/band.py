"""The difficulty band: keep the problems whose pass rate lies in `select: {pass_rate: [lo, hi]}`.

A problem's pass rate is its share of correct samples (every sample the answer check judged,
those another filter dropped included: the yield report's number), known only once every row
is decided, so the band is a pass of its own: the run keeps each row's decision (not its text),
then reads the input again in order and, for a row still accepted whose problem lies outside the
band, writes `out_of_band` (filter `select`) with the problem's pass rate as evidence. A problem
no answer check judged has no pass rate and is outside every band. With `--hard-subset` nothing
is dropped: the rows in the band are also written to OUT/hard/, beside the whole accepted set.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from filters.base import Reason
from filters.pipeline.rows import Decision

FILTER = "select"


@dataclass
class Band:
    lo: float
    hi: float
    hard_subset: bool = False
    _counts: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))   # problem → [judged, correct]
    kept_problems: set = field(default_factory=set)
    dropped_problems: set = field(default_factory=set)

    def add(self, rows: list[dict], decisions: list[Decision]) -> None:
        """A decided batch (first pass): its answer verdicts, per problem."""
        for row, d in zip(rows, decisions):
            if d.answer is not None:
                c = self._counts[row["problem_id"]]
                c[0] += 1
                c[1] += d.answer == "correct"

    def rate(self, problem_id: str) -> float | None:
        c = self._counts.get(problem_id)
        return c[1] / c[0] if c and c[0] else None

    def inside(self, problem_id: str) -> bool:
        r = self.rate(problem_id)
        return r is not None and self.lo <= r <= self.hi

    def apply(self, problem_id: str, d: Decision) -> tuple[Decision, bool]:
        """(the row's decision, whether it goes to the hard subset) in the second pass."""
        if d.reason is not None:
            return d, False
        if self.inside(problem_id):
            self.kept_problems.add(problem_id)
            return d, self.hard_subset
        if self.hard_subset:
            return d, False
        self.dropped_problems.add(problem_id)
        rate = self.rate(problem_id)
        reason = Reason("out_of_band", pass_rate=None if rate is None else round(rate, 4), band=[self.lo, self.hi])
        return Decision(FILTER, reason, d.answer, d.judged), False

    def summary(self, hard_rows: int) -> dict:
        rates = [self.rate(p) for p in self._counts]
        return {"pass_rate": [self.lo, self.hi], "mode": "hard_subset" if self.hard_subset else "select",
                "problems_with_pass_rate": sum(r is not None for r in rates),
                "problems_in_band": sum(r is not None and self.lo <= r <= self.hi for r in rates),
                "accepted_problems_in_band": len(self.kept_problems),
                "accepted_problems_out_of_band": len(self.dropped_problems),
                **({"hard_rows": hard_rows} if self.hard_subset else {})}
