"""Decontamination finds leaks, not phrases: generic benchmark phrasing passes, copies do not."""

from __future__ import annotations

import re

import pytest

from filters.base import Problems
from filters.decontamination import DecontaminationFilter, benchmark_rows
from filters.text import words


def row(problem="What is 3 + 4?", reasoning="Okay, 3 + 4 = 7.", response="$\\boxed{7}$"):
    return {"problem_id": "p", "problem": problem, "reasoning": reasoning, "response": response}


@pytest.fixture(scope="module")
def decon():
    return DecontaminationFilter()


def _bench(name: str) -> dict[str, str]:
    return dict(benchmark_rows(name)[1])


def _shares_an_8gram(text: str) -> bool:
    """The plain rule (any shared word 8-gram): what these phrases used to trip."""
    grams = set()
    for name in ("math500", "aime24", "amc23", "minerva_math", "olympiadbench", "gsm8k_test"):
        for p in _bench(name).values():
            w = words(p)
            grams.update(tuple(w[i:i + 8]) for i in range(len(w) - 7))
    w = words(text)
    return any(tuple(w[i:i + 8]) in grams for i in range(len(w) - 7))


# The phrases the issue found rejecting good traces, in problems and traces of our own.
GENERIC = [
    row(problem="Let $\\lfloor x \\rfloor$ denote the greatest integer less than or equal to $x$. "
                "Find $\\lfloor \\sqrt{200} \\rfloor + \\lfloor 3.7 \\rfloor$."),
    row(problem="In triangle $PQR$, $PQ = 6$ and $QR = 8$. What is the ratio of the area of triangle $PQS$ to the "
                "area of triangle $PQR$, where $S$ is the midpoint of $QR$? Express your answer as a common fraction."),
    row(problem="Two cards are drawn from five cards numbered 1 to 5. What is the probability that the product of "
                "the two numbers is even? Express your answer as a common fraction."),
    row(problem="The two circles below share a centre. Find the area of the gray ring.\n\n[asy]\nimport graph;\n"
                "filldraw(circle((0,0),7), lightgray, black+linewidth(1));\nfilldraw(circle((0,0),3), white, "
                "black+linewidth(1));\ndot((0,0));\n[/asy]"),
    row(reasoning="Okay, so m and n are relatively prime positive integers, and the probability is m/n in lowest "
                  "terms. So the answer is m + n where m and n are relatively prime positive integers, that is 7."),
]


@pytest.mark.parametrize("r", GENERIC)
def test_generic_phrasing_is_not_a_leak(decon, r):
    assert _shares_an_8gram(r["problem"] + "\n" + r["reasoning"])  # the plain 8-gram rule flags it
    assert decon.reject(dict(r)) is None


def test_a_benchmark_problem_in_the_problem_column_is_caught_with_its_evidence(decon):
    pid, problem = next(iter(benchmark_rows("aime24")[1]))
    found = decon.reject(row(problem=problem))
    assert found == "contaminated:aime24"
    assert found.detail["benchmark"] == "aime24" and found.detail["benchmark_id"] == pid
    assert found.detail["where"] == "problem" and found.detail["coverage"] == 1.0
    assert found.detail["span"].startswith(" ".join(words(problem)[:8]))


def test_lightly_edited_and_wrapped_copies_are_caught(decon):
    problem = _bench("math500")["math500-10"]
    edited = problem.replace("What is", "Find").replace("least", "smallest")
    assert edited != problem
    assert decon.reject(row(problem=edited)) == "contaminated:math500"
    wrapped = f"Solve the following problem carefully. {problem} Put your final answer in a box."
    found = decon.reject(row(problem=wrapped))
    assert found == "contaminated:math500" and found.detail["benchmark_id"] == "math500-10"


def test_other_numbers_make_another_problem(decon):
    problem = _bench("math500")["math500-10"]  # least multiple of 30 written with digits 0 and 2
    assert "30" in problem
    assert decon.reject(row(problem=problem.replace("30", "45"))) is None


def test_a_trace_quoting_a_benchmark_problem_is_caught(decon):
    pid, problem = list(benchmark_rows("olympiadbench")[1])[5]
    found = decon.reject(row(reasoning=f"Okay. This reminds me of a problem I have seen: {problem} Anyway, 3 + 4 = 7."))
    assert found == "contaminated:olympiadbench" and found.detail["where"] == "reasoning"
    assert found.detail["benchmark_id"] == pid
    # a verbatim run of 30 of its words, outside drawings, is enough
    text = re.sub(r"\[asy\].*?\[/asy\]", " ", _bench("math500")["math500-1"], flags=re.S).split()
    assert len(text) >= 32
    quote = " ".join(text[2:32])
    found = decon.reject(row(response=f"As a famous problem says, {quote} and so on. $\\boxed{{7}}$"))
    assert found == "contaminated:math500" and found.detail["where"] == "response"


def test_restating_its_own_clean_problem_is_not_a_leak(decon):
    # A problem that shares a long stretch with a benchmark problem but is another problem
    # (other numbers); its trace restates it, as every R1 trace does.
    problem = _bench("gsm8k_test")["gsm8k-0"]
    other = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), problem)
    assert decon.reject(row(problem=other)) is None
    assert decon.reject(row(problem=other, reasoning=f"Okay, so the problem says: {other}\n\nLet me compute.")) is None


def test_phrases_many_input_problems_share_are_not_evidence():
    decon = DecontaminationFilter()
    problem = _bench("olympiadbench")["olympiadbench-1807"]
    ws = words(re.sub(r"\$[^$]*\$", " ", problem))
    span = " ".join(ws[:24])
    quoting = row(reasoning=f"Recall the setting: {span}. Here it does not apply, so 3 + 4 = 7.")
    assert decon.reject(dict(quoting)) == "contaminated:olympiadbench"
    inputs = Problems()
    for i in range(6):  # the input's own problem family opens with the same sentence
        inputs.add(f"q{i}", f"{span}. Question {i}: what is {i} + {i * 3}?", None)
    decon.prepare(inputs)
    assert decon.reject(dict(quoting)) is None
    few = DecontaminationFilter()
    few.prepare(Problems())
    assert few.reject(dict(quoting)) == "contaminated:olympiadbench"


def test_extra_benchmark_files(tmp_path):
    (tmp_path / "mine.jsonl").write_text('{"id": "m-1", "problem": "Find the smallest prime larger than one hundred '
                                         'and twenty three, and explain why no smaller one works."}\n')
    d = DecontaminationFilter(benchmarks=[], extra=[str(tmp_path / "mine.jsonl")])
    r = row(response="We want the smallest prime larger than one hundred and twenty three, and explain why no "
                     "smaller one works: it is 127.")
    found = d.reject(r)
    assert found == "contaminated:mine" and found.detail["benchmark_id"] == "m-1"
    assert d.benchmark_names == ["mine"]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="min_span >= ngram"):
        DecontaminationFilter(min_span=4)
    with pytest.raises(ValueError, match="problem_similarity must be in"):
        DecontaminationFilter(problem_similarity=1.5)


def test_the_filter_survives_pickling(decon):
    import pickle

    decon.prepare(Problems())
    back = pickle.loads(pickle.dumps(decon))
    pid, problem = next(iter(benchmark_rows("amc23")[1]))
    assert back.reject(row(problem=problem)) == "contaminated:amc23"
