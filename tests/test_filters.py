"""Each filter, on hand-made traces: the reason is asserted, not just the drop.

The realistic shapes (R1-style `<think>` with display blocks, self-corrections,
markdown, Asymptote problems, a Chinese problem answered in Chinese) are in
`r1_traces.py`; every clean one must pass every filter, every flawed twin must
be dropped by the right filter for the right reason.
"""

from __future__ import annotations

import pytest

from filters.answers import extract_answer, quick_compare
from filters.config import FilterConfig
from filters.correctness import CorrectnessFilter
from filters.decontamination import DecontaminationFilter
from filters.dedup import DedupFilter
from filters.format import FormatFilter
from filters.language import LanguageFilter
from filters.readability import ReadabilityFilter
from factory.core.errors import InputError
from r1_traces import CLEAN, FLAWS, flawed
from r1_traces import row as real_row

PROSE = ("First, we note that the sum of two consecutive integers n and n + 1 is 2n + 1. "
         "Setting this equal to the target and solving gives the value of n directly. ")
REASONING = ("Okay, so I need to add 3 and 4.\n\nStarting from 3 and counting up four more: 4, 5, 6, 7.\n\n"
             "Wait, let me double-check. Addition is commutative, so 4 + 3 should give the same: 5, 6, 7. Yes.\n\n"
             "So 3 + 4 = 7.")


def varied(seed: int, n: int = 14) -> str:
    """A sentence of ordinary maths prose, different for every seed (real text, not a loop)."""
    import random

    rng = random.Random(seed)
    words = ("we the sum term value then check so factor divides both sides equation holds integer remainder "
             "zero after simplifying expression carefully bound triangle area angle circle radius").split()
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + f" {rng.randint(2, 999)}."


def trace(reasoning=REASONING, response="The answer is $\\boxed{7}$.", **kw):
    completion = kw.pop("completion", f"<think>\n{reasoning}\n</think>\n\n{response}")
    row = {"problem_id": "p", "problem": "What is 3 + 4? Show your reasoning clearly.", "answer": "7",
           "completion": completion, "reasoning": reasoning, "response": response, "finish_reason": "stop",
           "domain": "math"}
    row.update(kw)
    return row


@pytest.mark.parametrize("row, reason", [
    (trace(), None),
    (trace(finish_reason="length"), "truncated"),
    (trace(completion=None), "no_completion"),
    (trace(completion=12), "no_completion"),
    (trace(completion="<think>\nstill going"), "unclosed_think"),
    (trace(completion="<think>\na</think><think>b</think>c"), "multiple_think_blocks"),
    (trace(reasoning="  "), "empty_reasoning"),
    (trace(response=""), "empty_response"),
])
def test_format(row, reason):
    assert FormatFilter().reject(row) == reason


@pytest.mark.parametrize("reasoning, reason", [
    (PROSE * 2, None),
    (PROSE + "所以我们需要计算这个数的平方根然后再加上一", "mixed_language"),
    (PROSE + "Итак, мы получаем ответ семь, что и требовалось доказать сегодня", "mixed_language"),
    (PROSE + "Let θ and α be angles; $\\alpha + \\beta = \\pi$, so $x = 5$.", None),  # maths and symbols
    (PROSE + " So $x = 数$.", "mixed_language"),  # CJK is never maths notation
    (PROSE + "She paid $5 for pens.\n\n所以 x = 8.\n\nThen $3 for ink.", "mixed_language"),  # not maths: $ is money
    (PROSE * 40 + "也就是", "mixed_language"),  # R1: however short, another script is mixing
    (PROSE + "\n\n所以 x = 30.", "mixed_language"),  # the demo's two-character drift
    (PROSE + " So $\\text{所以} x = 30$.", "mixed_language"),  # \text{} inside maths is prose
    (PROSE + " By the Möbius function and Erdős's bound, π ≈ 3.14 and x ≤ 5 → fine — “quoted”.", None),
    (PROSE + " The angles αβ and γδ are equal.", "mixed_language"),  # two Greek letters are a word
])
def test_language(reasoning, reason):
    assert LanguageFilter().reject(trace(reasoning=reasoning)) == reason


def test_language_says_which_words():
    found = LanguageFilter().reject(trace(reasoning=PROSE + "\n\n所以 x = 30."))
    assert found.detail == {"target": "latin", "foreign_words": 2, "words": found.detail["words"], "first": "所 以"}


def test_language_follows_the_prompt_script():
    row = trace(problem="计算三加四等于多少，请详细说明", reasoning="我们先把三和四相加，得到七。" * 20,
                response="答案是 $\\boxed{7}$。")
    assert LanguageFilter().reject(row) is None
    row["reasoning"] += " Now in English we double check every single step of this computation"
    assert LanguageFilter().reject(row) == "mixed_language"


@pytest.mark.parametrize("addition, reason", [
    ("设 x 为所求的数，点 A 和 AB 边，sin x 和 log 2，长 5 cm。", None),  # maths Latin in Chinese prose
    ("Wait，让我再检查一下。", "mixed_language"),                          # R1's own mix the other way
    ("题目中的名字 Alice 出现了。", None),                                 # a name quoted from the problem
])
def test_language_latin_inside_chinese_reasoning(addition, reason):
    row = trace(problem="Alice 有 3 个苹果，又买了 4 个，现在有多少个？", reasoning="她原来有 3 个，加上 4 个，一共 7 个。" + addition,
                response="答案是 $\\boxed{7}$。")
    assert LanguageFilter().reject(row) == reason


def test_language_options_can_loosen_it():
    row = trace(reasoning=PROSE * 40 + "也就是")
    assert LanguageFilter(min_foreign_words=4).reject(row) is None
    assert LanguageFilter(max_foreign_share=0.01).reject(row) is None


@pytest.mark.parametrize("row, reason", [
    (trace(), None),
    (trace(reasoning=REASONING + "\n\n```python\nprint(7)\n```"), "code_in_reasoning"),
    (trace(reasoning=REASONING + "\n\n```python\nprint(7)\n```", domain="code"), None),
    (trace(reasoning=REASONING + "\x07bell"), "control_chars"),
    (trace(reasoning=REASONING + "broken \ufffd byte"), "control_chars"),
    (trace(reasoning="Wait, let me recompute the sum once more. " * 400), "repetition"),
    (trace(reasoning="\n".join([f"Step {i}: add the next term to the total." for i in range(8)] +
                               ["Hmm, maybe I should check the earlier result."] * 3)), "repeated_lines"),
    (trace(reasoning=REASONING + "\n\nBut wait, is 7 right? Let me count again from three.\nFour, five, six, seven."
                     * 3), "repeated_lines"),   # a block of two sentences, three times in a row
    (trace(reasoning="\n\n".join("Wait, that does not look right, let me check it again." if i % 2 else
                                   varied(i) for i in range(44))), "repeated_lines"),  # 22 times, apart
    (trace(reasoning=" ".join(f"word{i} is followed by another distinct token{i * 7}" for i in range(300))),
     "long_paragraph"),
    (trace(reasoning="x" * 250_000), "too_long"),
])
def test_readability(row, reason):
    assert ReadabilityFilter().reject(row) == reason


# What real traces look like and loops do not: each is repeated or long, none is a loop.
DISPLAY = "\n".join(f"Then we get\n\\[\nx_{i} = {i} + x_{i - 1}\n\\]\nwhich is what we want." for i in range(1, 40))
ALIGNED = "\n".join(f"\\begin{{aligned}}\na_{i} &= {i}^2 \\\\\n&= {i * i}\n\\end{{aligned}}" for i in range(30))
WAITS = "\n\n".join(f"Wait,\nmaybe term {i} is {i * 3}.\nHmm.\nStep {i}:" for i in range(40))
RESTATE = "\n\n".join(f"We need x^2 + 2x + 1 = 0, so (x + 1)^2 = 0.\nTry case {i}." for i in range(6))
MARKDOWN = "\n".join(f"### Case {i}\n\n| n | f(n) |\n|---|---|\n| {i} | {i * i} |\n\n- check: ok\n- next\n\n---"
                     for i in range(30))
SINGLE_NEWLINES = "\n".join(varied(i) for i in range(400))
CHINESE_PARAGRAPHS = "\n\n".join(f"第{i}步：我们把第{i}项加到总和里，得到{i * 37 % 101}，再检查" + "数列和项余式整除边角圆"[i % 11:]
                                   + "是否满足条件。" for i in range(60))


@pytest.mark.parametrize("reasoning", [DISPLAY, ALIGNED, WAITS, RESTATE, MARKDOWN, SINGLE_NEWLINES,
                                       CHINESE_PARAGRAPHS])
def test_readability_passes_real_formatting(reasoning):
    row = trace(reasoning=reasoning)
    if "第" in reasoning:
        row["problem"] = "计算这个数列的和。"
    assert ReadabilityFilter().reject(row) is None


def test_readability_says_what_looped():
    found = ReadabilityFilter().reject(trace(reasoning=REASONING + "\n\nWait, let me check that step again." * 4))
    assert found == "repeated_lines" and found.detail == {"times": 4, "block": "wait, let me check that step again"}
    found = ReadabilityFilter().reject(trace(reasoning=REASONING + "a \x0crac{1}{2}"))
    assert found.detail["char"] == "U+000C" and "rac{1}{2}" in found.detail["context"]


def test_answer_extraction_and_quick_path():
    assert extract_answer("so \\boxed{\\frac{1}{2}} and then \\boxed{\\{1, 2\\}}") == "\\{1, 2\\}"
    assert extract_answer("The final answer is $42$.") == "42"
    assert extract_answer("nothing here") is None
    assert quick_compare("\\frac{1}{2}", "0.5") is True
    assert quick_compare("1,000", "1000") is True
    assert quick_compare("7", "8") is False
    assert quick_compare("x^2", "x*x") is None  # needs sympy


@pytest.mark.parametrize("row, reason", [
    (trace(), None),
    (trace(response="It is $\\boxed{8}$."), "wrong_answer"),
    (trace(response="It is seven."), "no_answer"),
    (trace(answer="\\frac{\\sqrt{3}}{2}", response="\\boxed{\\sin(\\pi/3)}"), None),  # via math-verify
    (trace(answer="(x+1)^2", response="\\boxed{x^2+2x+2}"), "wrong_answer"),
    (trace(answer=None), "no_reference"),
    (trace(domain="code", response="no box"), None),  # other domains are not this filter's
])
def test_correctness(row, reason):
    assert CorrectnessFilter().reject(row) == reason


@pytest.mark.parametrize("reference, predicted", [
    ("(x+3)^2", "x^2+6x+9"), ("(x+3)^2", "x^2+9"), ("\\frac{\\sqrt{5}}{3}", "\\frac{1}{3}\\sqrt{5}"),
    ("\\frac{\\sqrt{5}}{3}", "\\frac{\\sqrt{6}}{3}"), ("x=3", "3"), ("[1,3)", "[1,3)"), ("2\\pi", "360^\\circ"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\3\\end{pmatrix}"), ("\\sqrt{x^2}", "x"),
    ("\\frac{1}{x}", "x^{-1}"), ("10\\%", "0.1"), ("f(x)", "g(x)"),
    ("x^2-1", "(x-1)(x+1)"), ("(a+b)^3", "a^3+3a^2b+3ab^2+b^3"), ("\\frac{x^2}{2}", "x^2/2"), ("0.5x", "x/2"),
    ("2x", "2y"), ("x^2+1", "x^2 + 1 + 0i"), ("\\frac{x+1}{2}", "0.5x+0.5"), ("(x-2)(x+3)", "x^2+x-6"),
    ("\\sqrt{2}x", "x\\sqrt{2}"), ("x^3", "x\\cdot x^2"),
])
def test_the_numeric_shortcut_agrees_with_math_verify(reference, predicted):
    """Two expressions that differ at two points are wrong without simplification; on
    everything else the verdict is math-verify's own."""
    from math_verify import verify

    from filters.answers import _parse, math_verify_equal

    gold, pred = _parse(f"${reference}$") or _parse(reference), _parse(f"\\boxed{{{predicted}}}")
    plain = "correct" if verify(gold, pred, timeout_seconds=None) else "wrong_answer"
    assert math_verify_equal(reference, predicted) == plain


@pytest.mark.parametrize("reference, predicted, verdict", [
    ("(x+15)^2", "x^2+30x+225", "correct"), ("(x+15)^2", "x^2+30x+226", "wrong_answer"),
    ("(a+b)^2", "a^2+2ab+b^2", "correct"), ("\\frac{x^2-1}{2}", "\\frac{(x-1)(x+1)}{2}", "correct"),
])
def test_polynomial_answers_are_decided_exactly_without_math_verify(reference, predicted, verdict, monkeypatch):
    import math_verify

    def no_verify(*a, **k):
        raise AssertionError("math-verify's verify was called")

    monkeypatch.setattr(math_verify, "verify", no_verify)
    from filters.answers import math_verify_equal

    assert math_verify_equal(reference, predicted) == verdict


def test_correctness_without_reference_modes():
    assert CorrectnessFilter(no_reference="keep").reject(trace(answer=None)) is None
    majority = CorrectnessFilter(no_reference="majority")
    assert majority.reject(trace(answer=None)) == "no_majority"
    assert majority.reject(trace(answer=None, _majority="7")) is None
    assert majority.reject(trace(answer=None, _majority="6")) == "wrong_answer"


def test_config_errors_name_the_file_and_problem(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("filters:\n  format: {}\n  spelling: {}\n")
    with pytest.raises(InputError, match=r"f.yaml:3: unknown filter .spelling. \(known: code_tests, correctness, "):
        FilterConfig.load(bad)
    bad.write_text("filters:\n  language: {max_foreign: 0.1}\n")
    with pytest.raises(InputError, match=r"unknown option\(s\) max_foreign"):
        FilterConfig.load(bad)
    bad.write_text("filters:\n  dedup: {}\n  format: {}\n")
    with pytest.raises(InputError, match="dedup must be the last filter"):
        FilterConfig.load(bad)
    bad.write_text("filters:\n  correctness: {no_reference: vote}\n")
    with pytest.raises(InputError, match="no_reference must be one of drop, keep, majority"):
        FilterConfig.load(bad)
    bad.write_text("filters: [\n")
    with pytest.raises(InputError, match=r"f.yaml:\d+: invalid YAML"):
        FilterConfig.load(bad)


def test_shipped_config_loads_with_every_filter():
    from filters.base import REGISTRY

    cfg = FilterConfig.load()
    assert list(cfg.filters) == ["format", "readability", "language", "decontamination", "correctness", "code_tests",
                                 "dedup"]
    assert set(cfg.filters) == set(REGISTRY)
