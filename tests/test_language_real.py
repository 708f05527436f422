"""The language filter on real traces: non-English reasoning is kept with its English scaffolding
(`**Final Answer**`, `### Step 1`, `Answer:`, `<answer>`), real drifts are still dropped.

The traces, real ones with their source, are in `multilingual_traces.py`.
"""

from __future__ import annotations

import pytest

from filters.language import LanguageFilter, strip_structure
from multilingual_traces import (ALL, EN_HEADERS, EN_SCARVES_CHINESE_ANSWER, EN_TICKETS, EN_TICKETS_DRIFT,
                                 JA_WRITTEN, RU_WRITTEN, RU_WRITTEN_DRIFT, ZH_ANSWER_TAGS, ZH_CHICKENS,
                                 ZH_CHICKENS_FINAL_ANSWER, ZH_CHICKENS_FINAL_ANSWER_DRIFT, ZH_WRITTEN, row)


@pytest.mark.parametrize("t", ALL, ids=[t["id"] for t in ALL])
def test_each_trace_is_judged_as_its_kind_requires(t):
    """Single-language zh/ja/ru traces are kept, English headers and all; every drift is dropped."""
    assert LanguageFilter().reject(row(t)) == t["expect"], t["source"]


@pytest.mark.parametrize("t, items", [
    (ZH_ANSWER_TAGS, ["answer", "answer"]),                          # real: Hunyuan's <answer> markup
    (ZH_CHICKENS_FINAL_ANSWER, ["Step 1: 简化第二个方程", "Step 2: 消元法", "Step 3: 代入求", "Final Answer"]),
    (ZH_WRITTEN, ["Final Answer", "Step 1: 写出公式", "Step 2: 代入计算", "Answer"]),
    (JA_WRITTEN, ["Final Answer", "Step 1", "Step 2", "Step 3", "Answer"]),
    (RU_WRITTEN, ["Final Answer", "Step 1: Дискриминант", "Step 2: Корни", "Step 3: Сумма корней", "Answer"]),
], ids=lambda v: v["id"] if isinstance(v, dict) else "")
def test_what_keeps_them_is_their_english_structure(t, items):
    """They are kept because these items were set aside, not because the filter looks away."""
    assert strip_structure(t["reasoning"] + "\n" + t["response"])[1] == items
    assert LanguageFilter().reject(row(t)) is None


def test_a_rejection_says_what_was_set_aside_as_structure():
    found = LanguageFilter().reject(row(ZH_CHICKENS_FINAL_ANSWER_DRIFT))
    assert found == "mixed_language"
    assert found.detail == {
        "target": "cjk", "foreign_words": 9, "words": found.detail["words"],
        "first": "Now English double check every single step this computation",
        "structural": ["Step 1: 简化第二个方程", "Step 2: 消元法", "Step 3: 代入求", "Final Answer"],
        "structural_words": 5}
    found = LanguageFilter().reject(row(RU_WRITTEN_DRIFT))
    assert found.detail["target"] == "cyrillic" and found.detail["first"].startswith("Wait let double check")
    assert found.detail["structural"][0] == "Final Answer"


def test_english_drifts_keep_their_detail():
    """A Latin prompt is judged as before: nothing is set aside, the detail has the same keys."""
    found = LanguageFilter().reject(row(EN_TICKETS_DRIFT))
    assert found.detail == {"target": "latin", "foreign_words": 2, "words": found.detail["words"], "first": "所 以"}
    # a Chinese header in English reasoning is the drift itself, not structure
    found = LanguageFilter().reject(row(EN_SCARVES_CHINESE_ANSWER))
    assert found.detail["first"].startswith("解 答") and "structural" not in found.detail


def test_english_headers_in_english_reasoning_change_nothing():
    assert LanguageFilter().reject(row(EN_HEADERS)) is None
    t = {**EN_TICKETS, "reasoning": "### Step 1: Adults\n" + EN_TICKETS["reasoning"] + "\n\n**Final Answer**\n\\boxed{4}"}
    assert LanguageFilter().reject(row(t)) is None


@pytest.mark.parametrize("english", [
    "Now in English we double check every single step of this computation",   # a sentence, inline
    "\n\nLet me double check this result once more.\n\n",                     # a sentence, its own paragraph
    "\n### Now in English we double check everything\n",                       # heading-shaped, five words
    "\n**Let us now double check everything**\n",                              # bold, five words
    "\n\nLet me verify with code:\n",                                          # a sentence ending in a colon
    "\nWait, let me check:\n",                                                 # a bare label has two words at most
    "Wait，让我再检查一下。",                                                   # R1's own mix
    '题目中的"Now we double check every step"。',                               # quoted, five words
])
def test_english_prose_in_chinese_reasoning_is_still_foreign(english):
    t = {**ZH_CHICKENS_FINAL_ANSWER, "reasoning": ZH_CHICKENS["reasoning"] + english}
    assert LanguageFilter().reject(row(t)) == "mixed_language"


@pytest.mark.parametrize("structure, item", [
    ("\n## Answer\n", "Answer"),                                   # a markdown heading
    ("\n### Step 2: 计算\n", "Step 2: 计算"),
    ("\n**Final Answer**\n", "Final Answer"),                      # a line that is only bold
    ("\n- **Solution:**\n", "Solution"),
    ("\n**Step 2**：继续计算。\n", "Step 2"),                       # a bold label opening a line
    ("\n**Note:** 注意单位。\n", "Note"),
    ("\nAnswer: 7\n", "Answer"),                                   # a bare label, two words at most
    ("\nFinal Answer：7\n", "Final Answer"),
    ("题目中的“Final Answer”要加粗。", "Final Answer"),             # a quoted label
    ("「Step 1」から始める。", "Step 1"),
    ("<answer>7</answer>", "answer"),                              # markup
    (" $\\text{Answer: } 7$", "Answer"),                           # \text{} in maths
    (" \\boxed{\\text{Yes}}", "Yes"),                              # a \boxed{} label
])
def test_each_structural_shape_is_set_aside(structure, item):
    text = ZH_CHICKENS["reasoning"] + structure
    assert item in strip_structure(text)[1]
    assert LanguageFilter().reject(row({**ZH_CHICKENS, "reasoning": text})) is None
