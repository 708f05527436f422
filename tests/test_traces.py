"""Completion → trace row, seeds, and the trace schema."""

from __future__ import annotations

from generators.sampling import derive_seed
from factory.core.traces import split_completion, trace_schema
from generators.general import TeacherTurn
from generators.traces import make_row


def test_split_closed_unclosed_and_empty_response():
    assert split_completion("<think>\nsteps\n</think>\n\nThe answer is \\boxed{2}.") == (
        "steps", "The answer is \\boxed{2}.")
    assert split_completion("<think>\nstill thinking") == ("still thinking", None)
    assert split_completion("<think>\na</think>") == ("a", "")
    # only the first </think> closes the block; the rest stays in the response
    assert split_completion("<think>\na</think>b</think>c") == ("a", "b</think>c")


def test_row_keeps_forced_prefix_and_problem_fields():
    problem = {"problem_id": "p1", "problem": "Q", "answer": "2", "domain": "math", "source": "s"}
    row = make_row(problem, TeacherTurn("Q\nPlease…", None, True, None, None), "r</think>ans", sample=3, finish_reason="stop", prompt_tokens=7,
                   completion_tokens=4, teacher="t", temperature=0.6, top_p=0.95, max_tokens=9, seed=11)
    assert row["completion"] == "<think>\nr</think>ans"
    assert (row["reasoning"], row["response"]) == ("r", "ans")
    assert row["source"] == "s" and row["sample"] == 3 and row["prompt"] == "Q\nPlease…"
    assert set(trace_schema().names) <= set(row)
    assert problem == {"problem_id": "p1", "problem": "Q", "answer": "2", "domain": "math", "source": "s"}
    assert row["teacher_prompt"] is None and row["cot"] is None


def test_general_row_trains_on_the_user_s_message_and_records_the_cot_decision():
    problem = {"problem_id": "g1", "problem": "Write 12 in words.", "answer": "twelve", "domain": "general",
               "history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]}
    shown = 'Write 12 in words.\n\n(note: the reply should be "twelve")'
    row = make_row(problem, TeacherTurn(shown, problem["history"], True, "prompted", None), "1 ten, 2 ones"
                   "</think>\n\ntwelve", sample=0, finish_reason="stop", prompt_tokens=7, completion_tokens=4,
                   teacher="t", temperature=0.6, top_p=0.95, max_tokens=9, seed=1)
    assert row["prompt"] == "Write 12 in words." and row["teacher_prompt"] == shown
    assert (row["reasoning"], row["response"], row["cot"]) == ("1 ten, 2 ones", "twelve", "prompted")
    assert row["history"][1]["content"] == "Hello!"
    quick = make_row({**problem, "problem": "hello"}, TeacherTurn("hello", None, False, "none", "greeting"),
                     "Hi there!", sample=0, finish_reason="stop", prompt_tokens=7, completion_tokens=4,
                     teacher="t", temperature=0.6, top_p=0.95, max_tokens=9, seed=1)
    assert quick["completion"] == "<think>\n\n</think>\n\nHi there!"
    assert (quick["reasoning"], quick["response"], quick["cot_rule"]) == ("", "Hi there!", "greeting")
    assert quick["teacher_prompt"] is None


def test_seeds_are_stable_distinct_and_fit_int64():
    a = derive_seed(0, "p1", 0)
    assert a == derive_seed(0, "p1", 0)
    seeds = {derive_seed(r, p, s) for r in (0, 1) for p in ("p1", "p2") for s in range(8)}
    assert len(seeds) == 32
    assert all(0 <= s < 2 ** 63 for s in seeds)
