"""The judge step: a batch of rows → a verdict per row, then a decision once its answer is settled.

`JudgeStep` is pure and runs wherever an executor puts it (worker processes, Ray actors): each
row goes through the row filters and answer checks in the configured order, up to the first
rejection; an `every_row` answer check (correctness) runs on every row, so the yield report knows
which samples were correct even when another filter dropped them. A maths answer that needs
math-verify comes back pending, as its (reference, answer) pair: `Verifies` runs each distinct
pair once in a killable process with a time limit and remembers its verdict, and
`Verdict.settle` then names the row's first rejection. The group filters' features are computed
here too, for the rows still in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pebble import ProcessExpired

from filters.answers import math_verify_equal
from filters.base import ANSWER, GROUP, AnswerCheck, Filter
from filters.pipeline.rows import complete_row

VERIFIED_CACHE = 200_000   # verdicts remembered; then the cache starts again (bounded memory)


class Pending(str):
    """What an answer check's verifier returns inside the judge step: not a verdict but the
    (reference, answer) pair that `Verifies` must verify."""

    pair: tuple


def defer(reference: str, predicted: str) -> Pending:
    out = Pending("pending")
    out.pair = (reference, predicted)
    return out


@dataclass(slots=True)
class Verdict:
    """One row, as the judge step found it."""

    first: tuple | None = None     # (position, filter, reason) of the first rejection other than an every-row check's
    answer: str | None = None      # "correct", why not, or None when no answer check applies
    checked_by: tuple | None = None  # (position, filter) of the answer check that set `answer`
    pending: tuple | None = None   # (reference, answer) for math-verify; then `answer` is settled later
    features: list | None = None   # each group filter's features, for a row that may be accepted
    judged: tuple | None = None    # (rule's verdict, judge's, judge's reason) of a row the judge saw

    def settle(self, verdict_of) -> tuple | None:
        """(position, filter, reason) of the row's first rejection before the group filters, or None;
        settles `answer` (a pending pair through `verdict_of`) first."""
        self.settle_answer(verdict_of)
        return self.first_rejection()

    def settle_answer(self, verdict_of) -> None:
        """The pending math-verify pair's verdict, through `verdict_of`, as the answer's."""
        if self.pending:
            self.answer = verdict_of(self.pending)
            self.pending = None

    def first_rejection(self) -> tuple | None:
        """(position, filter, reason) of the row's first rejection before the group filters, or None.
        The answer check's verdict counts from its place in the chain, wherever it ran."""
        first = self.first
        if self.answer not in (None, "correct") and (first is None or self.checked_by[0] < first[0]):
            first = (*self.checked_by, self.answer)
        return first


def _safe_reject(f: Filter, row: dict):
    try:
        return f.reject(row)
    except Exception as e:  # a filter bug costs one row, named, never the run
        return f"error:{type(e).__name__}"


class JudgeStep:
    """Rows → verdicts: every filter that is not a group filter, in order, and the group filters'
    features. Built and prepared once in the main process; `setup` runs in each process that
    judges (never in the main process: it defers the verifiers)."""

    def __init__(self, filters: list[Filter], verify_timeout: float, judged: bool = False):
        """`judged`: a generative judge may still turn a rejected answer into a correct one (the
        referee step), so the group filters' features are computed whatever the answer."""
        self.checks = [f for f in filters if f.kind != GROUP]   # positions: the configured order
        self.group_filters = [f for f in filters if f.kind == GROUP]
        self.verify_timeout = verify_timeout
        self.judged = judged

    def setup(self) -> None:
        logging.getLogger("math_verify").setLevel(logging.ERROR)
        for f in self.checks:
            if isinstance(f, AnswerCheck) and f.verifier is not None:
                f.verifier = defer
                # Import math-verify (sympy, its LaTeX parser) now, not inside the first call's timeout:
                # a worker that replaces one killed for a hanging answer would otherwise spend seconds
                # of the next answer's verify_timeout importing (seen on a loaded machine: a
                # parseable answer reported as verify_timeout).
                math_verify_equal("1", "1")

    def __call__(self, rows: list[dict]) -> list[Verdict]:
        return [self._judge(complete_row(row)) for row in rows]

    def _judge(self, row: dict) -> Verdict:
        v = Verdict()
        for pos, f in enumerate(self.checks):
            check = f.kind == ANSWER and f.applies(row)
            if f.kind == ANSWER and f.every_row:
                if check:  # always: the yield report needs it even when an earlier filter drops the row
                    self._record(v, pos, f, _safe_reject(f, row))
                continue
            if v.first is not None:
                continue
            r = _safe_reject(f, row)
            if check:
                self._record(v, pos, f, r)
            if r and not isinstance(r, Pending):
                v.first = (pos, f.name, r)
        if self.group_filters and v.first is None and (self.judged or v.answer in (None, "correct")):
            v.features = [g.features(row) for g in self.group_filters]
        return v

    @staticmethod
    def _record(v: Verdict, pos: int, f: Filter, r) -> None:
        """An answer check's outcome: its verdict, or the pair to verify."""
        v.checked_by = (pos, f.name)
        if isinstance(r, Pending):
            v.pending = r.pair
        else:
            v.answer = r or "correct"


class Verifies:
    """The math-verify calls of one process's judging: each distinct (reference, answer) pair
    verified once (a problem's samples often give the same answer), as a task of `pool` (pebble)
    killed after `timeout` seconds, and its verdict remembered. A killed or failed call is its own
    reason (`verify_timeout`, `verify_crash`, `verify_error:…`), never the run's end."""

    def __init__(self, pool, timeout: float):
        self.pool, self.timeout = pool, timeout
        self.known: dict[tuple, str] = {}      # pair → verdict
        self.inflight: dict[tuple, object] = {}  # pair → future, across batches

    def start(self, verdicts: list[Verdict]) -> None:
        """Queue the verdicts' pending pairs now, so that they run while other batches are judged."""
        for v in verdicts:
            if v.pending and v.pending not in self.known and v.pending not in self.inflight:
                self.inflight[v.pending] = self._schedule(v.pending)

    def ready(self, verdicts: list[Verdict]) -> bool:
        """Whether `verdict` would not wait for any of these."""
        return all(v.pending in self.known or v.pending not in self.inflight or self.inflight[v.pending].done()
                   for v in verdicts if v.pending)

    def verdict(self, pair: tuple) -> str:
        if pair not in self.known:
            fut = self.inflight.pop(pair, None) or self._schedule(pair)
            if len(self.known) >= VERIFIED_CACHE:
                self.known.clear()
            self.known[pair] = _result(fut)
        return self.known[pair]

    def _schedule(self, pair: tuple):
        return self.pool.schedule(math_verify_equal, args=pair, timeout=self.timeout)


def _result(fut) -> str:
    try:
        return fut.result()
    except TimeoutError:
        return "verify_timeout"
    except ProcessExpired:
        return "verify_crash"
    except Exception as e:
        return f"verify_error:{type(e).__name__}"
