"""The filter contract (three kinds: row filter, answer check, group filter), and the registry that
maps config names to classes."""

from __future__ import annotations

import dataclasses
import json
from typing import Callable, ClassVar, Protocol

# A filter's kind says where the pipeline runs it (filters/pipeline/): row filters and answer checks
# in the judge step, group filters in the grouped step, after all of them.
ROW, ANSWER, GROUP = "row", "answer", "group"


class Reason(str):
    """A rejection reason that carries its evidence.

    It is the reason text wherever a string is expected (the funnel counts it,
    `reject_reason` stores it); the chain writes `detail` as JSON to the row's
    `reject_detail` column, so a user can see *why*: which benchmark problem
    leaked, which foreign words, which line looped.
    """

    detail: dict

    def __new__(cls, text: str, **detail):
        obj = super().__new__(cls, text)
        obj.detail = detail
        return obj

    def __reduce__(self):  # crosses process boundaries with its detail
        return _reason, (str(self), self.detail)

    @staticmethod
    def encode(reason: str | None) -> tuple[str | None, str | None]:
        """(text, detail as JSON or None) of a reason, as the `reject_reason` and `reject_detail`
        columns hold them."""
        if reason is None:
            return None, None
        detail = reason.detail if isinstance(reason, Reason) else None
        return str(reason), json.dumps(detail, ensure_ascii=False) if detail else None

    @staticmethod
    def decode(text: str | None, detail: str | None) -> str | None:
        """The reason `encode` gave (text, detail)."""
        return Reason(text, **json.loads(detail)) if text is not None and detail is not None else text


class Evidence(Protocol):
    """What `Filter.evidence` returns: fed every rejection's detail, summarised for stats.json."""

    def add(self, detail: dict) -> None: ...

    def summary(self) -> dict: ...


def _reason(text: str, detail: dict) -> Reason:
    return Reason(text, **detail)


class Filter:
    """Keep (None) or drop (a reason) one trace row: a row filter, unless a subclass below.

    A row is a dict with at least `problem_id`, `problem`, `answer`,
    `completion`, `reasoning`, `response`, `finish_reason`, `domain`.
    Reasons are short snake_case words (or a `Reason` with evidence); the
    chain prefixes nothing, so a reason should make sense on its own in the
    funnel ("truncated").

    A filter that must know the whole input before judging a row (which
    problems are the same problem; which phrases many input problems share)
    also overrides `prepare`: the chain calls it once, in the main process,
    with every distinct problem of the input, before any row is judged.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = ROW

    def reject(self, row: dict) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, problems: "Problems") -> None:
        """See the class docstring; most filters need nothing."""

    def evidence(self) -> "Evidence | None":
        """A tally of the evidence this filter's rejections carry (their `Reason` details), recorded
        in stats.json under the filter's name (decontamination: leaks per benchmark); None: none."""
        return None

    def run_notes(self) -> dict:
        """Facts about this run that stats.json records beside the funnel (the code sandbox's
        isolation); called once, in the main process, after the last row."""
        return {}

    def options(self) -> dict:
        """The filter's options as the run used them (its init fields), for stats.json."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.init and not f.name.startswith("_") and not callable(getattr(self, f.name))}


class AnswerCheck(Filter):
    """A filter that judges the sample's final answer: a pass means the sample is correct.

    Its verdict ("correct", or the reason) is recorded for the yield report (filters/report.py)
    on the rows of its `domains` (a subclass's field). An `every_row` check (a cheap one:
    correctness) runs even on a row an earlier filter dropped, so that the report knows which of
    those were correct; any other (code tests in a sandbox) only on rows still in. A check whose
    last comparison may hang (math-verify on pathological LaTeX) makes it through
    `self.verifier(reference, predicted)`; the judge step swaps in one that hands the pair back,
    to be run in a killable process with a time limit (filters/pipeline/judge.py `Verifies`).
    """

    kind = ANSWER
    every_row: ClassVar[bool] = False
    verifier: Callable[[str, str], str] | None = None
    domains: list[str]

    def applies(self, row: dict) -> bool:
        """Whether the row is one this check judges."""
        return (row.get("domain") or "math") in self.domains

    @property
    def wants_majority(self) -> bool:
        """Whether reference-less rows are compared with their problem's majority answer, which the
        pipeline then computes in its first pass over the input (the row's `_majority`)."""
        return False


class GroupFilter(Filter):
    """A filter that judges a row by the rows of its group kept before it (a problem's samples:
    duplicates, caps, a difficulty band).

    Group filters come after every other filter and see only the rows those kept, in input order
    within each group, wherever they run. `features(row)` is the pure part, computed next to the
    row filters; `decide(problem_id, features)` the part that remembers what was kept. Rows of
    different groups never meet, so an executor may decide each group on its own (`group`).
    """

    kind = GROUP

    def group(self, problem_id: str) -> str:
        """The group of a problem's rows (default: the problem)."""
        return problem_id

    def features(self, row: dict) -> object:  # pragma: no cover - interface
        raise NotImplementedError

    def decide(self, problem_id: str, features: object) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def reject(self, row: dict) -> str | None:
        return self.decide(row["problem_id"], self.features(row))


class Problems:
    """The input's distinct problems, in first-seen order: what `Filter.prepare` sees."""

    def __init__(self):
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.answers: list[str | None] = []
        self.samples: list[int] = []      # rows of each problem id in the input
        self._index: dict[str, int] = {}

    def add(self, problem_id: str, text: str, answer: str | None) -> None:
        """One input row of this problem."""
        i = self._index.get(problem_id)
        if i is None:
            i = self._index[problem_id] = len(self.ids)
            self.ids.append(problem_id)
            self.texts.append(text)
            self.answers.append(answer)
            self.samples.append(0)
        self.samples[i] += 1

    def __len__(self) -> int:
        return len(self.ids)


REGISTRY: dict[str, type[Filter]] = {}


def register(cls: type[Filter]) -> type[Filter]:
    REGISTRY[cls.name] = cls
    return cls
