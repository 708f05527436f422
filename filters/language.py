"""Language consistency: the reasoning stays in the prompt's script.

R1 drops every chain of thought with mixed languages; a student trained on the
rest learns exactly these habits, so a two-character connective ("所以 x = 30.")
in English reasoning is mixing too. Before counting, maths (`$…$`, `\\[…\\]`,
`\\(…\\)`, `$$…$$`) and code are removed, but `\\text{…}` inside maths is prose
and stays, and so is CJK inside "maths" (never notation; usually text between two
currency dollars); LaTeX commands go. Every Latin/Cyrillic/Greek/Arabic… word counts
as one word of its script and every CJK character (Chinese has no spaces) as
one. The prompt's script is the one most of the problem's words are in.

Words in another script are *foreign*, except:
- single Greek letters (θ, π: maths written in prose);
- in a non-Latin prompt, Latin that is maths: variables and labels (`x`, `AB`,
  `ABCD`), function names (`sin`, `log`, `gcd`), units (`cm`, `kg`);
- words that the problem itself contains (a quoted name).

A reasoning with at least `min_foreign_words` foreign words, making up more
than `max_foreign_share` of its words, is `mixed_language`; the detail lists
the first foreign words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filters.base import Filter, Reason, register
from filters.text import MATH_SPAN

_TEXT_IN_MATH = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|operatorname)\s*\{([^{}]*)\}")
_CJK_CLASS = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # kana, hanzi, hangul
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
_COMMAND = re.compile(r"\\[A-Za-z]+")
_SCRIPTS = {
    "cjk": re.compile(f"[{_CJK_CLASS}]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]+"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]+"),
    "greek": re.compile(r"[\u0370-\u03ff]+"),
    "arabic": re.compile(r"[\u0600-\u06ff]+"),
    "hebrew": re.compile(r"[\u0590-\u05ff]+"),
    "devanagari": re.compile(r"[\u0900-\u097f]+"),
    "thai": re.compile(r"[\u0e00-\u0e7f]+"),
}
# Any letter outside Latin: what a Latin-script reasoning is scanned for first.
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u0e00-\u0e7f" + _CJK_CLASS + "]")
_MATH_WORDS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min sup inf gcd lcm "
    "mod det deg rad dim ker arg abs sgn sqrt mm cm dm km mg kg ml dl kmh mph rpm hz ok vs".split())


def _prose_in_maths(m: re.Match) -> str:
    """What of a maths span is prose: its `\\text{}`, and any CJK (never maths notation; often
    prose between two currency dollars)."""
    span = m.group()
    return " " + " ".join(_TEXT_IN_MATH.findall(span) + _CJK_RUN.findall(_TEXT_IN_MATH.sub(" ", span))) + " "


def strip_non_prose(text: str) -> str:
    """Prose only: maths replaced by the prose inside it, code and LaTeX commands removed."""
    return _COMMAND.sub(" ", _CODE.sub(" ", MATH_SPAN.sub(_prose_in_maths, text)))


def script_words(text: str) -> dict[str, list[str]]:
    """Prose words of `text` by script (CJK: one entry per character); single Greek letters left out."""
    prose = strip_non_prose(text)
    out = {}
    for script, pattern in _SCRIPTS.items():
        found = pattern.findall(prose)
        if script == "greek":  # θ, α in prose are maths variables, not a language switch
            found = [w for w in found if len(w) > 1]
        if found:
            out[script] = found
    return out


def script_counts(text: str) -> dict[str, int]:
    return {k: len(v) for k, v in script_words(text).items()}


def dominant_script(text: str, default: str = "latin") -> str:
    counts = script_counts(text)
    return max(counts, key=counts.get) if counts else default


def _is_maths_latin(word: str) -> bool:
    return len(word) <= 2 or word.isupper() or word.lower() in _MATH_WORDS


@register
@dataclass
class LanguageFilter(Filter):
    name = "language"
    max_foreign_share: float = 0.0    # of the reasoning's words: 0 = any foreign word is too many
    min_foreign_words: int = 1        # fewer foreign words than this are let through

    def __post_init__(self):
        if self.min_foreign_words < 1 or not 0 <= self.max_foreign_share < 1:
            raise ValueError("language: min_foreign_words >= 1 and 0 <= max_foreign_share < 1")

    def reject(self, row: dict) -> Reason | None:
        problem = row.get("problem") or ""
        text = (row.get("reasoning") or "") + "\n" + (row.get("response") or "")
        if problem.isascii() or not _NON_LATIN.search(problem):
            # A Latin-script prompt (the common case): only non-Latin letters can be foreign.
            if text.isascii() or not _NON_LATIN.search(text):
                return None
            target, own = "latin", set()
        else:
            target = dominant_script(problem)
            own = {w for ws in script_words(problem).values() for w in ws}
        found = script_words(text)
        foreign = []
        for script, ws in found.items():
            if script == target:
                continue
            if script == "latin":
                ws = [w for w in ws if not _is_maths_latin(w)]
            foreign += [w for w in ws if w not in own]
        total = sum(len(ws) for ws in found.values())
        if foreign and len(foreign) >= self.min_foreign_words and len(foreign) / max(1, total) > self.max_foreign_share:
            return Reason("mixed_language", target=target, foreign_words=len(foreign), words=total,
                          first=" ".join(foreign[:12]))
        return None
