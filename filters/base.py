"""The filter contract, and the registry that maps config names to classes."""

from __future__ import annotations

from typing import ClassVar


class Filter:
    """Keep (None) or drop (a reason) one trace row.

    A row is a dict with at least `problem_id`, `problem`, `answer`,
    `completion`, `reasoning`, `response`, `finish_reason`, `domain`.
    Reasons are short snake_case words; the chain prefixes nothing, so a
    reason should make sense on its own in the funnel ("truncated").
    """

    name: ClassVar[str]

    def reject(self, row: dict) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError


REGISTRY: dict[str, type[Filter]] = {}


def register(cls: type[Filter]) -> type[Filter]:
    REGISTRY[cls.name] = cls
    return cls
