"""Correctness (maths): the response's final answer equals the reference.

The final answer is the last \\boxed{} of the response (fallback: a stated
"final answer is …" / "Answer: …" line). A normalised/numeric comparison
decides most rows at once (`filters/answers.py`); the rest go to
math-verify. In a filter run, that call runs in a worker process killed
after `verify_timeout` seconds (filters/pipeline/judge.py `Verifies`), so
pathological LaTeX costs one row (`verify_timeout`), never the run;
math-verify's own signal-based timeouts are off because they only work in a
main thread.

Rows without a reference: `no_reference: drop` rejects them, `keep` keeps
them unverified, `majority` compares them with the answer most of the
problem's samples give (more than half of them), computed by the pipeline in
a first pass.

`judge: {model: …}` adds R1's generative judge for what these rules cannot
decide (filters/judge.py; the referee step, filters/pipeline/referee.py, asks it).

General rows (`general_domains`: chat data, generators/general.py) have no final answer to
extract: a reply that says exactly the reference (case, spacing and final punctuation aside) is
correct, any other is `reply_differs`, which the judge decides where there is one (R1: "what
rules could not check, a generative judge checked") and which drops the row where there is none.

Multiple-choice rows (`choice_domains`: GPQA Diamond) have a letter for reference: the response
is correct when the letter it finally chose (`extract_choice`: the last boxed or stated letter)
is that letter, case aside. The row's `choices` column (the options in the order shown, a list
or its JSON text) says which letters exist (A… one per option; none: ABCD); `no_answer` when the
response chose none of them, else `wrong_answer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from factory.core.teacher import redact
from filters.answers import extract_answer, extract_choice, math_verify_equal, quick_compare, same_reply
from filters.base import AnswerCheck, register
from filters.judge import JudgeSpec

NO_REFERENCE_MODES = ("drop", "keep", "majority")
MAX_ANSWER_CHARS = 2_000
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@register
@dataclass
class CorrectnessFilter(AnswerCheck):
    name = "correctness"
    every_row = True   # cheap: the yield report knows which samples were correct, whatever dropped them
    no_reference: str = "drop"
    domains: list[str] = field(default_factory=lambda: ["math"])
    general_domains: list[str] = field(default_factory=lambda: ["general"])   # replies, not answers
    choice_domains: list[str] = field(default_factory=lambda: ["choice"])     # a letter, not an answer
    # (reference, predicted) -> "correct" | "wrong_answer" | "unparseable_answer";
    # the judge step swaps in one that defers to a killable process (filters/base.py AnswerCheck).
    verifier: Callable[[str, str], str] = field(default=math_verify_equal, repr=False)
    judge: dict | None = None   # the generative judge's block (filters/judge.py), None: rules only

    def __post_init__(self):
        if self.no_reference not in NO_REFERENCE_MODES:
            raise ValueError(f"correctness.no_reference must be one of {', '.join(NO_REFERENCE_MODES)}, "
                             f"not {self.no_reference!r}")
        if self.judge is not None:
            JudgeSpec.parse(self.judge)   # a bad block is the config's error (FilterConfig reads it once)

    @property
    def wants_majority(self) -> bool:
        return self.no_reference == "majority"

    def applies(self, row: dict) -> bool:
        domain = row.get("domain") or "math"
        return super().applies(row) or domain in self.general_domains or domain in self.choice_domains

    def options(self) -> dict:
        """As the run used them; a judge farm's endpoints without their user:password@ (stats.json)."""
        out = super().options()
        if self.judge and self.judge.get("endpoints"):
            out["judge"] = {**self.judge, "endpoints": [redact(str(u)) for u in self.judge["endpoints"]]}
        return out

    def reject(self, row: dict) -> str | None:
        if not self.applies(row):
            return None
        reference = row.get("answer")
        if reference is None or (isinstance(reference, str) and not reference.strip()):
            if self.no_reference == "keep":
                return None
            if self.no_reference == "drop":
                return "no_reference"
            reference = row.get("_majority")
            if reference is None:
                return "no_majority"
        if row.get("domain") in self.general_domains:
            return None if same_reply(str(reference), row.get("response") or "") else "reply_differs"
        if row.get("domain") in self.choice_domains:
            return choice_verdict(str(reference), row.get("response") or "", row.get("choices"))
        predicted = extract_answer(row.get("response") or "")
        if predicted is None:
            return "no_answer"
        if len(predicted) > MAX_ANSWER_CHARS:
            return "unparseable_answer"
        quick = quick_compare(str(reference), predicted)
        if quick is not None:
            return None if quick else "wrong_answer"
        verdict = self.verifier(str(reference), predicted)
        return None if verdict == "correct" else verdict


def choice_verdict(reference: str, response: str, choices=None) -> str | None:
    """None when the response chose the reference letter (case aside), else "no_answer" or
    "wrong_answer". `choices`: the options shown (a list or its JSON text); their count says
    which letters exist (A, B, … one per option); absent, empty or unreadable: ABCD."""
    chosen = extract_choice(response, option_letters(choices))
    if chosen is None:
        return "no_answer"
    return None if chosen.upper() == reference.strip().strip("()").strip().upper() else "wrong_answer"


def option_letters(choices) -> str:
    """The letters of a row's options: A… one per option, ABCD when the row does not list them."""
    if isinstance(choices, str):
        try:
            choices = json.loads(choices)
        except json.JSONDecodeError:
            choices = None
    n = len(choices) if isinstance(choices, (list, tuple)) else 0
    return LETTERS[:n] if 0 < n <= len(LETTERS) else "ABCD"
