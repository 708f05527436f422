"""Readability: loops, walls of text, code in maths reasoning, garbage bytes, absurd length."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

from filters.base import Filter, register

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_PARAGRAPHS = re.compile(r"\n\s*\n")


@register
@dataclass
class ReadabilityFilter(Filter):
    name = "readability"
    max_chars: int = 200_000             # ~50k tokens: beyond any 32k-token trace
    max_paragraph_chars: int = 3_000     # a wall of text without a blank line
    min_compression_ratio: float = 0.12  # zlib size / raw size; loops compress far below prose
    max_repeated_line_share: float = 0.3
    max_line_repeats: int = 12           # one non-trivial line this often is a loop
    code_domains: list[str] = field(default_factory=lambda: ["code"])

    def reject(self, row: dict) -> str | None:
        reasoning = row.get("reasoning") or ""
        response = row.get("response") or ""
        text = reasoning + "\n\n" + response
        if len(text) > self.max_chars:
            return "too_long"
        if _CONTROL.search(text):
            return "control_chars"
        if row.get("domain") not in self.code_domains and "```" in reasoning:
            return "code_in_reasoning"
        if len(text) >= 1_000:
            raw = text.encode("utf-8", "replace")
            if len(zlib.compress(raw, 1)) / len(raw) < self.min_compression_ratio:
                return "repetition"
        lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 20]
        if lines:
            top, n = Counter(lines).most_common(1)[0]
            if n >= self.max_line_repeats or (len(lines) >= 10 and 1 - len(set(lines)) / len(lines) > self.max_repeated_line_share):
                return "repeated_lines"
        if any(len(p) > self.max_paragraph_chars for p in _PARAGRAPHS.split(reasoning)):
            return "long_paragraph"
        return None
