"""Grading the evaluation benchmarks' two new kinds of row: a multiple-choice letter (GPQA
Diamond) and LiveCodeBench's programs (stdin and functional tests), in the real sandbox."""

from __future__ import annotations

import json
import time

import pytest

from filters.answers import extract_choice
from filters.code import CodeTestsFilter, functional_program, same_output
from filters.config import FilterConfig
from filters.correctness import CorrectnessFilter
from filters.sandbox import Limits, run_program

# ---------------------------------------------------------------- the letter a response chose

GPQA_R1 = """Hmm, the energy difference must be resolvable, so ΔE > ħ/τ ≈ 3.3e-7 eV for the shorter
lifetime. Option A is 1e-8 eV, too small; option B is 1e-11 eV...

So the answer is \\boxed{B}.

Wait, that's wrong: 1e-11 eV is even smaller than the linewidth. Only 1e-4 eV exceeds 3.3e-7 eV.

**Answer: D**"""


@pytest.mark.parametrize("response, letter", [
    ("The reasoning above settles it.\n\nAnswer: C", "C"),                       # simple-evals' last line
    ("**Answer:** C", "C"),
    ("**Answer: C**", "C"),
    ("Answer: (C)", "C"),
    ("Answer: C) 42 J", "C"),
    ("so it is \\boxed{C}", "C"),
    ("\\boxed{\\text{C}}", "C"),
    ("\\boxed{(C)}", "C"),
    ("The option that fits is $\\boxed{C}$.", "C"),
    ("**Final Answer**\n\\[\n\\boxed{C}\n\\]", "C"),
    ("**Final Answer**\n\nB", "B"),
    ("The answer is (C).", "C"),
    ("Comparing the four, the correct answer is C", "C"),
    ("Answer: $C$", "C"),
    ("Final answer: **B) 3.5 eV**", "B"),
    ("The correct option is B.", "B"),
    ("Answer: \\(\\text{B}\\)", "B"),
    ("answer: c", "C"),                       # lower case ending its line
    ("The answer is (d).", "D"),              # lower case, enclosed
    ("所以选项 B 的能量太小。\n\n答案：C", "C"),
    ("综上所述，答案是 C。", "C"),
    ("故选Ｄ", "D"),                           # full-width letter
    ("Итак, второй вариант неверен.\n\nОтвет: C", "C"),
    ("Правильный ответ — С", "C"),            # a Cyrillic С
    ("したがって、答え：C", "C"),
    ("正解はBです。", "B"),
    (GPQA_R1, "D"),                          # boxed B, changed its mind, ended with D
    ("Answer: C\n\nOn reflection the sign flips, so \\boxed{A}", "A"),
])
def test_the_last_letter_stated_or_boxed_is_the_choice(response, letter):
    assert extract_choice(response) == letter


@pytest.mark.parametrize("response", [
    "a answer is a…",                       # the article, not option A
    "So the answer is a bit larger than expected.",
    "I'll check the answer. A careful look shows nothing.",
    "**Final Answer**\nA careful look shows nothing.",
    "Give the last line as 'Answer: $LETTER'.",
    "Answer: None of the options fit.",
    "Ответ: Сначала найдём энергию.",        # a Russian word starting with a Cyrillic С
    "The answer is \\boxed{x^2 + 1}",
    "Answer: E",                             # not one of ABCD
    "",
])
def test_no_choice_is_read_from_ordinary_words(response):
    assert extract_choice(response) is None


def test_letters_beyond_d_and_as_spelled():
    assert extract_choice("Answer: E", "ABCDE") == "E"
    assert extract_choice("\\boxed{J}", "ABCDEFGHIJ") == "J"
    assert extract_choice("Answer: B", "abcd") == "b"


def test_a_pathological_response_is_read_fast():
    t = time.monotonic()
    for text in ("\\boxed{" * 20_000, "answer:" + " " * 100_000, "Answer:" + " (" * 50_000):
        assert extract_choice(text) is None
    assert time.monotonic() - t < 2


# ---------------------------------------------------------------- correctness of a choice row

FOUR = json.dumps(["10^-8 eV", "10^-11 eV", "10^-9 eV", "10^-4 eV"])


@pytest.mark.parametrize("row, reason", [
    ({"answer": "D", "response": GPQA_R1, "choices": FOUR}, None),
    ({"answer": "d", "response": "Answer: D", "choices": FOUR}, None),        # reference case aside
    ({"answer": "B", "response": GPQA_R1, "choices": FOUR}, "wrong_answer"),  # it boxed B, then chose D
    ({"answer": "D", "response": "I cannot decide between them.", "choices": FOUR}, "no_answer"),
    ({"answer": "E", "response": "Answer: E", "choices": json.dumps(list("vwxyz"))}, None),
    ({"answer": "E", "response": "Answer: E", "choices": list("vwxyz")}, None),  # a list column
    ({"answer": "C", "response": "Answer: E", "choices": FOUR}, "no_answer"),  # no option E here
    ({"answer": "C", "response": "答案：C"}, None),                             # no choices: ABCD
    ({"answer": None, "response": "Answer: C"}, "no_reference"),
])
def test_choice_rows_are_graded_by_letter(row, reason):
    f = CorrectnessFilter()
    row = {"domain": "choice", **row}
    assert f.applies(row)
    assert f.reject(row) == reason


def test_choice_domains_are_configurable_and_maths_is_unchanged():
    assert CorrectnessFilter(choice_domains=["gpqa"]).reject({"domain": "gpqa", "answer": "A",
                                                               "response": "Answer: B"}) == "wrong_answer"
    assert not CorrectnessFilter(choice_domains=[]).applies({"domain": "choice"})
    assert CorrectnessFilter().reject({"domain": "math", "answer": "12", "response": "\\boxed{12}"}) is None
    assert FilterConfig.load().filters["correctness"]["choice_domains"] == ["choice"]


# ---------------------------------------------------------------- LiveCodeBench programs

FAST = dict(wall_seconds=1.5, cpu_seconds=1, memory_mb=512)
TWO_SUM = json.dumps([{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"},
                      {"input": "[3, 2, 4]\n6", "output": "[1, 2]", "testtype": "functional"}])
GOOD = """Using a hash map:
```python
class Solution:
    def twoSum(self, nums: List[int], target: int) -> List[int]:
        seen = {}
        for i, x in enumerate(nums):
            if target - x in seen:
                return (seen[target - x], i)   # a tuple reads as a list
            seen[x] = i
```"""


def _code(program: str) -> str:
    return f"Here it is:\n```python\n{program}\n```"


def _grade(response: str, tests: str = TWO_SUM, **row) -> str | None:
    f = CodeTestsFilter(**FAST, max_tests=0)
    return f.reject({"domain": "code", "response": response, "tests": tests, **row})


@pytest.mark.parametrize("row", [
    {"func_name": "twoSum"},
    {"metadata": '{"func_name": "twoSum"}'},   # LiveCodeBench keeps it in metadata, as JSON text
    {"metadata": {"func_name": "twoSum"}},
])
def test_a_correct_functional_program_passes(row):
    assert _grade(GOOD, **row) is None


def test_a_top_level_function_and_liveCodeBench_imports():
    program = ("def twoSum(nums: List[int], target: int) -> List[int]:\n"
               "    count = Counter(nums)\n    heap = list(nums)\n    heapify(heap)\n"
               "    assert pow(2, 10, 7) == 2 and gcd(4, 6) == 2\n"
               "    return [i for i, x in enumerate(nums)\n"
               "            if target - x in count and (target - x != x or count[x] > 1)]")
    assert _grade(_code(program), func_name="twoSum") is None


def test_a_wrong_program_fails_the_test_it_gets_wrong():
    wrong = GOOD.replace("(seen[target - x], i)", "[0, 1]")
    assert _grade(wrong, func_name="twoSum") == "failed_test_1"
    crashing = GOOD.replace("(seen[target - x], i)", "nums[99]")
    assert _grade(crashing, func_name="twoSum") == "crash"


def test_a_slow_program_times_out():
    t = time.monotonic()
    slow = _code("class Solution:\n    def twoSum(self, nums, target):\n        while True:\n            pass")
    assert _grade(slow, func_name="twoSum") == "timeout"
    assert time.monotonic() - t < 5


@pytest.mark.parametrize("program", [
    # a fake result, then an exit before the driver runs
    "import os, sys\nprint('[0, 1]')\nprint('\\nffff\\n[0, 1]')\nsys.stdout.flush()\nos._exit(0)",
    "import sys\nprint('[0, 1]')\nsys.exit(0)",
    # the right values printed by the method itself, a wrong value returned
    "class Solution:\n    def twoSum(self, nums, target):\n        print([0, 1] if target == 9 else [1, 2])\n"
    "        return [5, 5]",
    # a main block that would print the answers (it stays off, as in LiveCodeBench)
    "class Solution:\n    def twoSum(self, nums, target):\n        return []\n"
    "if __name__ == '__main__':\n    print([0, 1])",
])
def test_a_program_cannot_fake_its_result(program):
    assert _grade(_code(program), func_name="twoSum") == "failed_test_0"


def test_the_program_reads_neither_the_test_nor_the_token():
    # It tries its stdin, fd 0 rewound, /proc/self/fd/0 and every file under /tmp: only the
    # driver's own frame ever holds the token or the arguments.
    spy = ("import glob, os, sys\nseen = sys.stdin.read()\n"
           "try:\n    os.lseek(0, 0, 0)\n    seen += os.read(0, 1 << 16).decode()\nexcept OSError:\n    pass\n"
           "seen += open('/proc/self/fd/0').read()\n"
           "for path in glob.glob('/tmp/**', recursive=True):\n"
           "    if os.path.isfile(path):\n        seen += open(path, errors='replace').read()\n"
           "print('SEEN', repr(seen))\n"
           "def f(x):\n    return x")
    token = "c0ffee" * 5
    r = run_program(functional_program(spy, "f"), f"{token}\n[1, 2]\n", Limits(**FAST))
    assert r.status == "ok", r.stderr
    # (it finds its own main.py in its working folder, which holds neither)
    assert "SEEN" in r.stdout and r.stdout.count(token) == 1 and r.stdout.count("[1, 2]") == 1
    assert r.stdout.rstrip().endswith(f"{token}\n[1, 2]")


def test_functional_rows_without_a_function_name_or_readable_tests():
    assert _grade(GOOD) == "no_func_name"
    assert _grade(GOOD, metadata="{}") == "no_func_name"
    bad = json.dumps([{"input": "[1, 2", "output": "3", "testtype": "functional"}])
    assert _grade(GOOD, tests=bad, func_name="twoSum") == "no_tests"


def test_max_tests_caps_the_tests_and_zero_runs_every_one():
    tests = json.dumps([{"input": "1", "output": "2"}, {"input": "2", "output": "3"},
                        {"input": "3", "output": "5", "testtype": "stdin"}])   # the third one is wrong
    row = {"domain": "code", "response": _code("print(int(input()) + 1)"), "tests": tests}
    assert CodeTestsFilter(**FAST, max_tests=2).reject(row) is None
    assert CodeTestsFilter(**FAST, max_tests=0).reject(row) == "failed_test_2"
    assert CodeTestsFilter().max_tests == 50
    with pytest.raises(ValueError, match="max_tests must be >= 0"):
        FilterConfig(filters={"code_tests": {"max_tests": -1}})


def test_stdin_outputs_compare_like_liveCodeBench():
    assert same_output("1.0 2\n\n", "1 2.00")          # equal as decimals
    assert not same_output("0.33", "0.333")
    assert same_output("  3 \r\n4\n", "3\n4")           # each line stripped, blank lines at the end ignored
    assert not same_output("3\n\n4", "3\n4")            # a blank line inside counts
    assert same_output("Case 1: 2.50", "Case 1: 2.5") and not same_output("YES", "yes")
    tests = json.dumps([{"input": "1 3\n", "output": "0.3333333333\n", "testtype": "stdin"},
                        {"input": "2 4\n", "output": "0.5\n"}])
    program = _code("a, b = map(int, input().split())\nprint(f'{a / b:.10f}')")
    assert _grade(program, tests=tests) is None       # 0.5000000000 is 0.5
