"""Format: one closed think block, reasoning inside it, a response after it.

A reply generated without a chain of thought (`cot: none`: R1's simple queries, generators/general.py)
has an empty think block by design: only its response is required."""

from __future__ import annotations

from dataclasses import dataclass

from factory.core.traces import think_tag_counts
from filters.base import Filter, register


@register
@dataclass
class FormatFilter(Filter):
    name = "format"

    def reject(self, row: dict) -> str | None:
        completion = row.get("completion")
        if not isinstance(completion, str) or not completion.strip():
            return "no_completion"
        if row.get("finish_reason") == "length":
            return "truncated"
        opens, closes = think_tag_counts(completion)
        if closes == 0:
            return "unclosed_think"
        if opens > 1 or closes > 1:
            return "multiple_think_blocks"
        if not (row.get("reasoning") or "").strip() and row.get("cot") != "none":
            return "empty_reasoning"
        if not (row.get("response") or "").strip():
            return "empty_response"
        return None
