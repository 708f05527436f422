"""The grouped step: the group filters (dedup, caps, a difficulty band) over the rows the judge
step kept, in input order within each group.

It remembers what each group kept, so it sees a group's rows one at a time, in input order: an
executor runs it in one process over the whole input in order, or per group (every group filter
tells the group of a problem), on each group's rows sorted by input position. Either way each
row meets the same rows before it, and the decisions are the same.
"""

from __future__ import annotations

from filters.base import GROUP, Filter
from filters.pipeline.judge import Verdict
from filters.pipeline.rows import Decision


class GroupStep:
    def __init__(self, filters: list[Filter]):
        self.filters = [f for f in filters if f.kind == GROUP]

    def decide(self, problem_id: str, features: list) -> tuple[str, str] | None:
        """(filter, reason) of the first group filter that drops the row, or None; `features`: one per
        group filter, as the judge step computed them."""
        for f, feats in zip(self.filters, features):
            reason = f.decide(problem_id, feats)
            if reason:
                return f.name, reason
        return None

    def split(self) -> list["GroupStep"]:
        """One step per group filter, for an executor that groups the rows for each apart (the next
        sees only the rows the previous kept)."""
        return [GroupStep([f]) for f in self.filters]


def decide(row: dict, v: Verdict, verdict_of, group: GroupStep) -> Decision:
    """The row's decision, for an executor that runs the grouped step in input order: its first
    rejection (its answer settled through `verdict_of`), else the group filters'."""
    first = v.settle(verdict_of)
    if first is not None:
        return Decision(first[1], first[2], v.answer, v.judged)
    if v.features is not None:
        dropped = group.decide(row["problem_id"], v.features)
        if dropped:
            return Decision(*dropped, v.answer, v.judged)
    return Decision(answer=v.answer, judged=v.judged)
