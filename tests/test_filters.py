"""Each filter, on hand-made traces: the reason is asserted, not just the drop."""

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
from factory.errors import InputError

PROSE = ("First, we note that the sum of two consecutive integers n and n + 1 is 2n + 1. "
         "Setting this equal to the target and solving gives the value of n directly. ")


def trace(reasoning=PROSE * 3, response="The answer is $\\boxed{7}$.", **kw):
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
    (PROSE * 5, None),
    (PROSE * 5 + "所以我们需要计算这个数的平方根然后再加上一", "mixed_language"),
    (PROSE * 5 + "Итак, мы получаем ответ семь, что и требовалось доказать сегодня", "mixed_language"),
    (PROSE * 5 + "Let θ and α be angles; $\\alpha + \\beta = \\pi$, so $x = 数$.", None),  # maths and symbols
    (PROSE * 40 + "也就是", None),  # a stray word in long reasoning stays under the threshold
])
def test_language(reasoning, reason):
    assert LanguageFilter().reject(trace(reasoning=reasoning)) == reason


def test_language_follows_the_prompt_script():
    row = trace(problem="计算三加四等于多少，请详细说明", reasoning="我们先把三和四相加，得到七。" * 20,
                response="答案是 $\\boxed{7}$。")
    assert LanguageFilter().reject(row) is None
    row["reasoning"] += " Now in English we double check every single step of this computation"
    assert LanguageFilter().reject(row) == "mixed_language"


@pytest.mark.parametrize("row, reason", [
    (trace(), None),
    (trace(reasoning=PROSE + "```python\nprint(7)\n```"), "code_in_reasoning"),
    (trace(reasoning=PROSE + "```python\nprint(7)\n```", domain="code"), None),
    (trace(reasoning=PROSE + "\x07bell"), "control_chars"),
    (trace(reasoning=PROSE + "broken \ufffd byte"), "control_chars"),
    (trace(reasoning="Wait, let me recompute the sum once more. " * 400), "repetition"),
    (trace(reasoning="\n".join([f"Step {i}: add the next term to the total." for i in range(8)] +
                               ["Hmm, maybe I should check the earlier result."] * 12)), "repeated_lines"),
    (trace(reasoning=" ".join(f"word{i} is followed by another distinct token{i * 7}" for i in range(300))),
     "long_paragraph"),
    (trace(reasoning="x" * 250_000), "too_long"),
])
def test_readability(row, reason):
    assert ReadabilityFilter().reject(row) == reason


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


def test_correctness_without_reference_modes():
    assert CorrectnessFilter(no_reference="keep").reject(trace(answer=None)) is None
    majority = CorrectnessFilter(no_reference="majority")
    assert majority.reject(trace(answer=None)) == "no_majority"
    assert majority.reject(trace(answer=None, _majority="7")) is None
    assert majority.reject(trace(answer=None, _majority="6")) == "wrong_answer"


def test_dedup_exact_near_and_cap():
    d = DedupFilter(max_per_problem=2)
    base = " ".join(f"Step {i}: we add term {i} to the running total and check it." for i in range(40))
    base += " The sum is seven."
    assert d.reject(trace(reasoning=base)) is None
    assert d.reject(trace(reasoning=base.upper().replace(". ", " .  "))) == "exact_duplicate"
    assert d.reject(trace(reasoning=base.replace("seven", "7"))) == "near_duplicate"
    other = " ".join(f"entirely different reasoning number {i} about parity" for i in range(60))
    assert d.reject(trace(reasoning=other)) is None
    third = " ".join(f"a third distinct line of thought {i} with sums" for i in range(60))
    assert d.reject(trace(reasoning=third)) == "over_cap"
    assert d.reject(trace(reasoning=base, problem_id="q")) is None  # per problem


def test_minhash_similarity_tracks_jaccard():
    from filters.dedup import similarity

    d = DedupFilter()
    vocab = [f"w{i}" for i in range(4000)]
    a = " ".join(vocab[:2000])
    for overlap in (0.3, 0.6, 0.9):  # shift the window: Jaccard of the 5-gram sets
        shift = int(2000 * (1 - overlap))
        b = " ".join(vocab[shift:shift + 2000])
        sa, sb = d.features(trace(reasoning=a, response=""))[1], d.features(trace(reasoning=b, response=""))[1]
        true = (2000 - shift - 4) / (2000 + shift - 4)
        assert abs(similarity(sa, sb) - true) < 0.12, (overlap, similarity(sa, sb), true)


def test_decontamination_names_the_benchmark():
    d = DecontaminationFilter()
    from filters.decontamination import benchmark_problems

    aime = benchmark_problems("aime24")[1][0]
    assert d.reject(trace(problem=aime)) == "contaminated:aime24"
    words = aime.split()
    pasted = PROSE + " I recall: " + " ".join(words[5:20]) + " and so on."
    assert d.reject(trace(reasoning=pasted)) == "contaminated:aime24"
    assert d.reject(trace()) is None


def test_decontamination_extra_files(tmp_path):
    (tmp_path / "mine.jsonl").write_text('{"problem": "Find the smallest prime larger than one hundred and twenty three"}\n')
    d = DecontaminationFilter(benchmarks=[], extra=[str(tmp_path / "mine.jsonl")])
    row = trace(response="We want the smallest prime larger than one hundred and twenty three, which is 127.")
    assert d.reject(row) == "contaminated:mine"


def test_config_errors_name_the_file_and_problem(tmp_path):
    bad = tmp_path / "f.yaml"
    bad.write_text("filters:\n  format: {}\n  spelling: {}\n")
    with pytest.raises(InputError, match=r"f.yaml: unknown filter .spelling. \(known: code_tests, correctness, "):
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
