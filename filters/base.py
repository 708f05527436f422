"""The filter contract, and the registry that maps config names to classes."""

from __future__ import annotations

from typing import ClassVar


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


def _reason(text: str, detail: dict) -> Reason:
    return Reason(text, **detail)


class Filter:
    """Keep (None) or drop (a reason) one trace row.

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

    def reject(self, row: dict) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, problems: "Problems") -> None:
        """See the class docstring; most filters need nothing."""

    def options(self) -> dict:
        """The filter's options as the run used them (its init fields), for stats.json."""
        import dataclasses

        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.init and not f.name.startswith("_") and not callable(getattr(self, f.name))}


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
