"""The record that flows through the filter run: a row (a dict, the filters' view of one trace),
a batch of them with the input table they came from, and the decision the run takes on each.

`RowView` is the read step: an input table → rows (the filters' column names, the majority
answer of a reference-less problem filled in). `scan_problems` is the run's first pass: the
input's distinct problems (for `Filter.prepare`) and its majority answers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from factory.core.chat import conversation_text
from factory.core.problems import as_text, content_id
from factory.core.traces import split_completion
from filters.answers import extract_answer, normalise
from filters.base import Problems
from filters.source import Columns, TraceSource

# Read by name whatever `Columns` maps (the factory's own trace columns).
TRACE_COLUMNS = ("reasoning", "response", "finish_reason", "domain", "tests", "history", "cot")
# What the answer checks read besides: a multiple-choice row's options as shown (correctness), a
# functional code problem's function name, or LiveCodeBench's metadata that holds it (code_tests).
CHECK_COLUMNS = ("choices", "func_name", "metadata")


@dataclass(slots=True)
class Decision:
    """What the run decided for one row: the filter that dropped it and why (None, None: accepted),
    and the answer check's verdict ("correct", why not, or None where no check applies)."""

    filter: str | None = None
    reason: str | None = None      # a `Reason` where it carries evidence
    answer: str | None = None
    judged: tuple | None = None    # (rule's verdict, judge's, judge's reason) where the judge saw the row


@dataclass
class Batch:
    """Input rows in input order: the table as read (every column, written back) and the rows."""

    table: object
    rows: list[dict]
    decisions: list[Decision] | None = None


def view_rows(table, columns: Columns, derive: bool = True) -> list[dict]:
    """The filters' view of a batch: their column names, derived fields filled in.

    Without reasoning/response columns they are split from the completion; with
    `derive=False` that is left to `complete_row` (in the judge step, off the main process).
    A conversation's `problem` is all its turns (`conversation_text`): dedup, decontamination and
    the judge compare and read conversations, not their last message alone."""
    names = set(table.schema.names)

    def col(name):  # the source gives every column its declared type (filters/source.py)
        return table.column(name).to_pylist() if name in names else [None] * table.num_rows

    problems, completions = col(columns.problem), col(columns.completion)
    answers, ids = col(columns.answer), col(columns.id)
    reasoning, response = col("reasoning"), col("response")
    finish, domain, tests = col("finish_reason"), col("domain"), col("tests")
    history, cot = col("history"), col("cot")
    checks = {name: col(name) for name in CHECK_COLUMNS if name in names}
    split = "reasoning" not in names or "response" not in names
    rows = []
    for i in range(table.num_rows):
        p = problems[i]
        if history[i] and isinstance(p, str):
            p = conversation_text(history[i], p)
        row = {"problem_id": str(ids[i]) if ids[i] is not None else content_id(p if isinstance(p, str) else ""),
               "problem": p if isinstance(p, str) else as_text(p), "answer": as_text(answers[i]),
               "completion": completions[i], "reasoning": reasoning[i], "response": response[i],
               "finish_reason": finish[i], "domain": domain[i] or "math", "tests": tests[i], "cot": cot[i], "_split": split,
               **{name: values[i] for name, values in checks.items()}}
        rows.append(complete_row(row) if derive else row)
    return rows


def complete_row(row: dict) -> dict:
    """Fill reasoning and response from the completion, where the input has no such columns."""
    if row.pop("_split", False):
        c = row["completion"]
        row["reasoning"], row["response"] = split_completion(c) if isinstance(c, str) else ("", None)
    return row


@dataclass
class RowView:
    """The read step: an input table → its rows, not yet derived (`complete_row`), each
    reference-less one given its problem's majority answer (`_majority`) where there is one."""

    columns: Columns
    majority: dict[str, str]

    @property
    def wanted(self) -> list[str]:
        """The input columns the rows are made of."""
        c = self.columns
        return [c.problem, c.answer, c.id, c.completion, *TRACE_COLUMNS, *CHECK_COLUMNS]

    def __call__(self, table) -> list[dict]:
        rows = view_rows(table, self.columns, derive=False)
        if self.majority:
            for r in rows:
                if r["answer"] in (None, ""):
                    r["_majority"] = self.majority.get(r["problem_id"])
        return rows


def scan_problems(source: TraceSource, columns: Columns, batch_rows: int,
                  majority: bool) -> tuple[Problems, dict[str, str]]:
    """The input's distinct problems and, if `majority`, problem_id → the answer
    more than half of its reference-less samples give. Reads only the columns it needs."""
    wanted = [columns.problem, columns.answer, columns.id, "domain", "history"]
    if majority:
        wanted += [columns.completion, "reasoning", "response"]
    problems = Problems()
    votes: dict[str, Counter] = defaultdict(Counter)
    surface: dict[tuple, str] = {}
    totals: Counter = Counter()
    for table in source.batches(batch_rows, columns=wanted):
        for row in view_rows(table, columns):
            problems.add(row["problem_id"], row["problem"] or "", row["answer"])
            if not majority or row["answer"] not in (None, ""):
                continue
            totals[row["problem_id"]] += 1
            ans = extract_answer(row["response"] or "")
            if ans is not None:
                key = normalise(ans)
                votes[row["problem_id"]][key] += 1
                surface.setdefault((row["problem_id"], key), ans)
    answers = {}
    for pid, counter in votes.items():
        key, n = counter.most_common(1)[0]
        if n * 2 > totals[pid]:
            answers[pid] = surface[(pid, key)]
    return problems, answers
