"""Language consistency: the reasoning stays in the prompt's script.

The R1 paper rewards "the proportion of target-language words in the CoT".
We measure it the same way, by script: maths ($…$, \\[…\\], \\(…\\)), LaTeX
commands and code are removed first, then every Latin/Cyrillic/Greek/Arabic
… word counts as one word of its script and every CJK character (Chinese
has no spaces) as one word. The prompt's script is the one most of the
problem's words are in; a reasoning whose share of other-script words
exceeds `max_foreign_share` is rejected as `mixed_language`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filters.base import Filter, register

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)", re.S)
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SCRIPTS = {
    "cjk": re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]+"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]+"),
    "greek": re.compile(r"[\u0370-\u03ff]+"),
    "arabic": re.compile(r"[\u0600-\u06ff]+"),
    "hebrew": re.compile(r"[\u0590-\u05ff]+"),
    "devanagari": re.compile(r"[\u0900-\u097f]+"),
    "thai": re.compile(r"[\u0e00-\u0e7f]+"),
}


def strip_non_prose(text: str) -> str:
    return _COMMAND.sub(" ", _CODE.sub(" ", _MATH.sub(" ", text)))


def script_counts(text: str) -> dict[str, int]:
    prose = strip_non_prose(text)
    counts = {}
    for script, pattern in _SCRIPTS.items():
        n = len(pattern.findall(prose))
        if n:
            counts[script] = n
    # Single Greek letters are maths variables written in prose (α, π, θ):
    # they are not a language switch.
    if "greek" in counts:
        counts["greek"] = sum(1 for w in _SCRIPTS["greek"].findall(prose) if len(w) > 1)
    return {k: v for k, v in counts.items() if v}


def dominant_script(text: str, default: str = "latin") -> str:
    counts = script_counts(text)
    return max(counts, key=counts.get) if counts else default


@register
@dataclass
class LanguageFilter(Filter):
    name = "language"
    max_foreign_share: float = 0.01   # of the reasoning's words
    min_foreign_words: int = 3        # fewer is a quoted name or symbol, not mixing

    def reject(self, row: dict) -> str | None:
        problem = row.get("problem") or ""
        text = (row.get("reasoning") or "") + "\n" + (row.get("response") or "")
        if text.isascii() and problem.isascii():
            return None  # English prompt, English reasoning: nothing else to count
        target = dominant_script(problem)
        counts = script_counts(text)
        total = sum(counts.values())
        foreign = total - counts.get(target, 0)
        if total and foreign >= self.min_foreign_words and foreign / total > self.max_foreign_share:
            return "mixed_language"
        return None
