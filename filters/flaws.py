"""Flaws: what a rejected trace was wrong with, in the R1 paper's terms, and the
same flaws measured in any model's own outputs.

The funnel counts rejections per filter and reason (`truncated`,
`repeated_lines`, `contaminated:math500`, …). A reader wants the flaws the
reasons stand for, the ones R1's rejection sampling exists to remove:

    wrong            the final answer is wrong or missing (correctness, code tests)
    mixed_language   the reasoning slides into another script (language)
    loop_truncated   a loop, or cut at the context, which is where loops end (format: truncated;
                     readability: repeated_lines, repetition, too_long)
    code             a code block inside maths reasoning (readability: code_in_reasoning)
    leak             a benchmark problem in the data (decontamination)
    duplicate        the same trace again, or the same problem under another id (dedup)
    malformed        no closed think block, no response, a wall of text, control bytes
    out_of_band      a problem outside the difficulty band (select: pass_rate)
    other            a reason of a filter this table does not know (a plug-in)

`category(filter, reason)` maps a funnel reason to its flaw. `OutputFlaws`
judges one generated row (a sample of any model, teacher or student) for the
flaws a model's outputs can show (mixed_language, loop_truncated, code,
malformed) with the filters' own rules, so `factory.evaluate` reports them
for every model next to pass@1.
"""

from __future__ import annotations

from collections import Counter

from filters.format import FormatFilter
from filters.language import LanguageFilter
from filters.readability import ReadabilityFilter, code_in_reasoning

FLAWS = ("wrong", "mixed_language", "loop_truncated", "code", "leak", "duplicate", "malformed", "out_of_band",
         "other")
DESCRIPTIONS = {
    "wrong": "wrong or missing final answer",
    "mixed_language": "reasoning mixes languages",
    "loop_truncated": "loops, or cut at the context",
    "code": "code block in maths reasoning",
    "leak": "benchmark problem (contamination)",
    "duplicate": "duplicate trace or problem",
    "malformed": "malformed (think block, response, wall of text)",
    "out_of_band": "problem outside the difficulty band",
    "other": "other filters",
}
# Flaws a model's own outputs can show, judged per sample (the rest need a reference or the whole input).
OUTPUT_FLAWS = ("mixed_language", "loop_truncated", "code", "malformed")

_BY_FILTER = {"correctness": "wrong", "code_tests": "wrong", "language": "mixed_language", "decontamination": "leak",
              "dedup": "duplicate", "select": "out_of_band"}
_BY_REASON = {("format", "truncated"): "loop_truncated", ("readability", "repeated_lines"): "loop_truncated",
              ("readability", "repetition"): "loop_truncated", ("readability", "too_long"): "loop_truncated",
              ("readability", "code_in_reasoning"): "code"}


def category(filter_name: str, reason: str) -> str:
    """The flaw a funnel reason stands for (see the module docstring)."""
    flaw = _BY_REASON.get((filter_name, str(reason))) or _BY_FILTER.get(filter_name)
    if flaw:
        return flaw
    return "malformed" if filter_name in ("format", "readability") else "other"


def funnel_flaws(stages: list[dict]) -> dict[str, int]:
    """Traces rejected for each flaw, from the funnel's stages (every flaw listed, zeros included)."""
    out = Counter({f: 0 for f in FLAWS})
    for stage in stages:
        for reason, n in stage["reasons"].items():
            out[category(stage["filter"], reason)] += n
    return {f: out[f] for f in FLAWS if f not in ("other", "out_of_band") or out[f]}


def flaw_map(stages: list[dict]) -> dict[str, dict[str, str]]:
    """The flaw each funnel reason stands for, per filter: recorded in stats.json so that the card can
    count flaws from the rows it reads without knowing the filters."""
    return {s["filter"]: {str(r): category(s["filter"], r) for r in s["reasons"]} for s in stages}


def flaw_table(flaws: dict[str, int], input_rows: int) -> str:
    """The funnel by flaw, as printed after a filter run."""
    labels = {flaw: f"{DESCRIPTIONS[flaw]} ({flaw})" for flaw in flaws}
    width = max([len("rejected for")] + [len(label) for label in labels.values()]) + 2
    lines = [f"{'rejected for':<{width}}{'traces':>10}{'share':>9}"]
    for flaw, n in flaws.items():
        lines.append(f"{labels[flaw]:<{width}}{n:>10,}{100 * n / max(1, input_rows):>8.1f}%")
    return "\n".join(lines)


class OutputFlaws:
    """The flaws in one model output, judged by the filters' own rules (their default options)."""

    def __init__(self):
        self._filters = {"format": FormatFilter(), "readability": ReadabilityFilter(), "language": LanguageFilter()}

    def of(self, row: dict) -> set[str]:
        """Every output flaw of `row` (a trace row: problem, completion, reasoning, response, finish_reason,
        domain). A truncated trace is judged on what it wrote: a cut loop that also mixes languages has both."""
        found = set()
        for name, filt in self._filters.items():
            reason = filt.reject(row)
            if reason is not None:
                found.add(category(name, reason))
        if code_in_reasoning(row, self._filters["readability"].code_domains) >= 0:
            found.add("code")  # readability reports one reason; code and a loop can both be there
        return found & set(OUTPUT_FLAWS)


def output_flaw_rates(rows: list[dict], correct: list[bool]) -> dict:
    """Share of samples with each output flaw, of finished samples with a wrong
    answer (`wrong_answer`: a loop cut at the context is counted as a loop, not
    here), mean completion length, and the accuracy of the clean samples (none of
    the output flaws)."""
    judge, counts, clean, clean_right, tokens = OutputFlaws(), Counter(), 0, 0, 0
    for row, ok in zip(rows, correct):
        found = judge.of(row)
        counts.update(found)
        counts["wrong_answer"] += not ok and "loop_truncated" not in found
        if not found:
            clean += 1
            clean_right += ok
        tokens += row.get("completion_tokens") or 0
    n = max(1, len(rows))
    return {**{f: round(counts[f] / n, 4) for f in OUTPUT_FLAWS + ("wrong_answer",)},
            "any": round((len(rows) - clean) / n, 4), "clean_samples": clean,
            "clean_pass@1": round(clean_right / clean, 4) if clean else None,
            "mean_completion_tokens": round(tokens / n, 1)}
