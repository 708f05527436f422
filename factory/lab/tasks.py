"""Synthetic problems with checkable answers, and `<think>` traces that solve them.

Three families, each solved column by column the way a person does it on paper,
so a model of a few million parameters can learn the procedure:

- `add`: the sum of two numbers of up to three digits (some as word problems);
- `sum3`: three two-digit numbers, added in two steps;
- `equation`: x + b = c, solved by subtracting with borrows.

`trace(problem, flaw)` writes the reasoning and the response. A clean trace is
correct; a flawed one fails the way R1-Zero fails and the filters must catch:
`wrong` (a slip in the first column, carried through to a wrong answer),
`drift` (the reasoning slides into Chinese part-way), `loop` (one line
repeated with no way out: it runs until the context ends), `code` (a Python
block inside the maths reasoning).

Each flaw is taken at one fixed decision point, so a trained teacher learns
each as one token choice whose probability is the flaw's share of the
training mix; sampling at temperature T sharpens that choice (p ** (1/T),
renormalised) but cannot make it vanish. The slip is decided at the first
column (its digit); drift, loop and code at the start of the line after the
first column, where a clean trace simply goes on. A flaw spread over many
positions (the teacher before this design) is a small chance at each, which
temperature 0.6 crushes to nearly nothing. `TRAINING_MIX` sets the shares.

The general (non-reasoning) task, R1's ~200k chat samples in miniature, is chat
data with reference replies (`general_sets`, bundled as `GENERAL_PROBLEMS`):

- `words`: "Write 347 in words." → "three hundred forty-seven" (1-999, American
  style: hyphenated tens, no "and"); `digits`: the way back. The teacher, shown
  the reply (generators/templates/general.txt), reasons by place value as in the
  maths traces; `general_trace` writes that reasoning and the reply.
- `self` ("Who are you?" → `SELF_REPLY`) and `greet` ("Hello" → a fixed reply):
  simple queries, which generators/general.py's rule gives no chain of thought.

Their flaws (`GENERAL_MIX`): `wrong` (the ones digit misread where it is first
written: reasoning and reply name the neighbouring number) and `drift` (into
Chinese after the first line), each decided at one point as in the maths traces.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from factory.core.traces import THINK_CLOSE
from factory.lab import GENERAL_HELD_OUT, GENERAL_PROBLEMS

FAMILIES = ("add", "sum3", "equation")
FLAWS = ("wrong", "drift", "loop", "code")
# Share of each flaw in the teacher's training traces; the rest (45%) are clean.
# At the decision points these are one token choice each: 10% for the slip; 15/90
# each for drift, loop and code after a correct first column. Temperature 0.6
# sharpens them (p ** (1/0.6), renormalised): the sampled teacher's measured rates
# are in bench/README.md ("The lab teacher").
TRAINING_MIX = {"wrong": 0.10, "drift": 0.15, "loop": 0.15, "code": 0.15}
# What a drifting line starts with ("next,"), so the slide is decided at one token.
DRIFT_LEAD = "接下来，"
LOOP_LINE = "Wait, let me check again: {line}"

# Every word 8-gram of a phrasing holds all its numbers, so decontamination
# (8-gram overlap) flags a copied problem and never two that share a template.
_ADD_PHRASES = (
    "What is the sum of {a} and {b}?",
    "Compute {a} + {b}.",
    "A farmer has {a} sheep and buys {b} more.",
    "A library owns {a} books and gets {b} more.",
)
_SUM3_PHRASES = (
    "Add the three numbers {a}, {b} and {c}.",
    "What is {a} + {b} + {c}?",
    "A baker sells {a}, {b} and {c} rolls.",
)
_EQUATION_PHRASES = (
    "Solve for x: x + {b} = {c}.",
    "Find x such that {b} + x = {c}.",
)

# English → Chinese for the words of the reasoning: what drift switches to.
_CHINESE = {
    "Add column by column from the right.": "从右到左逐位相加。",
    "Subtract column by column from the right.": "从右到左逐位相减。",
    "write": "写", "carry": "进位", "borrow": "借位", "needs a": "需要", "So": "所以",
    "First add": "先加", "That gives": "得到", "Then add": "再加", "and": "和",
    "Subtract": "两边减去", "from both sides": "",
}


# The general task (see the module docstring); its bundled chat data and held-out benchmark are
# GENERAL_PROBLEMS and GENERAL_HELD_OUT (factory/lab/__init__.py).
GENERAL_FAMILIES = ("words", "digits", "self", "greet")
GENERAL_FLAWS = ("wrong", "drift")
GENERAL_MIX = {"wrong": 0.10, "drift": 0.10}
# The bundle's shares (the rest of the 400 rows are self and greet, 20 each).
GENERAL_SHARES = {"words": 180, "digits": 180, "self": 20, "greet": 20}
SELF_REPLY = ("I am R1-lab, the tiny teacher of the R1 distillation factory's lab. "
              "I add numbers step by step and write numbers in words or digits.")
HELLO_REPLY = "Hello! Give me a sum to add, or a number to write in words or digits."
THANKS_REPLY = "You are welcome!"
# Each phrasing must get a chain of thought by generators/general.py's rule (more than 4 words or
# a digit): "What is {w} in digits?" has 5 words even for "seven".
_WORDS_PHRASES = (
    "Write {n} in words.",
    "How do you write {n} in words?",
    "Spell out the number {n}.",
    "What is {n} in words?",
)
_DIGITS_PHRASES = (
    "Write the number {w} in digits.",
    "How is {w} written in digits?",
    "What is {w} in digits?",
)
# ...and each of these must get none (4 words at most, no digit, or a greeting).
SELF_PROMPTS = ("What is your name?", "Who are you?", "Who made you?", "What are you?",
                "Introduce yourself.", "Tell me about yourself.")
GREETINGS = {"Hello": HELLO_REPLY, "Hi": HELLO_REPLY, "Hey there": HELLO_REPLY, "Good morning": HELLO_REPLY,
             "Hello again!": HELLO_REPLY, "Thanks!": THANKS_REPLY, "Thank you": THANKS_REPLY,
             "Thank you very much!": THANKS_REPLY}
_ONES = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_CHINESE_GENERAL = {"hundreds": "个百", "So ": "所以 ", " is ": " 就是 "}  # never inside number words


@dataclass(frozen=True)
class Problem:
    id: str
    family: str
    problem: str
    answer: str
    operands: tuple[int, ...]


def make_problem(rng: random.Random, family: str, index: int, prefix: str = "lab") -> Problem:
    if family == "add":
        a, b = (rng.randint(10, 99) if rng.random() < 0.3 else rng.randint(100, 999) for _ in range(2))
        text, answer, ops = rng.choice(_ADD_PHRASES).format(a=a, b=b), a + b, (a, b)
    elif family == "sum3":
        a, b, c = (rng.randint(10, 99) for _ in range(3))
        text, answer, ops = rng.choice(_SUM3_PHRASES).format(a=a, b=b, c=c), a + b + c, (a, b, c)
    elif family == "equation":
        x, b = rng.randint(1, 499), rng.randint(1, 499)
        text, answer, ops = rng.choice(_EQUATION_PHRASES).format(b=b, c=x + b), x, (b, x + b)
    else:
        raise ValueError(f"unknown family {family!r}; have {FAMILIES}")
    return Problem(f"{prefix}-{family}-{index}", family, text, str(answer), ops)


def make_problems(n: int, seed: int, prefix: str = "lab", exclude: set[str] = frozenset()) -> list[Problem]:
    """n distinct problems (by text), families in equal shares, none in `exclude`."""
    rng = random.Random(seed)
    out, seen = [], set(exclude)
    while len(out) < n:
        p = make_problem(rng, FAMILIES[len(out) % len(FAMILIES)], len(out), prefix)
        if p.problem not in seen:
            seen.add(p.problem)
            out.append(p)
    return out


def _digits(n: int, width: int) -> list[int]:
    return [int(d) for d in str(n).zfill(width)][::-1]  # least significant first


def _add_lines(a: int, b: int, slip_at: int | None) -> tuple[list[str], int]:
    width = max(len(str(a)), len(str(b)))
    da, db = _digits(a, width), _digits(b, width)
    lines, carry, out = ["Add column by column from the right."], 0, []
    for i in range(width):
        slip = i == slip_at
        if slip and carry:
            carry = 0  # the flaw: a carry forgotten…
        terms = f"{da[i]} + {db[i]}" + (f" + {carry}" if carry else "")
        s = da[i] + db[i] + carry + (1 if slip and not carry else 0)  # …or a column miscounted
        carry, digit = divmod(s, 10)
        out.append(digit)
        lines.append(f"{terms} = {s}, write {digit}" + (f", carry {carry}." if carry else "."))
    if carry:
        out.append(carry)
        lines.append(f"Write the last carry {carry}.")
    return lines, int("".join(map(str, out[::-1])))


def _subtract_lines(c: int, b: int, slip_at: int | None) -> tuple[list[str], int]:
    width = len(str(c))
    dc, db = _digits(c, width), _digits(b, width)
    lines, borrow, out = ["Subtract column by column from the right."], 0, []
    for i in range(width):
        slip = i == slip_at
        if slip and borrow:
            borrow = 0  # the flaw: a borrow forgotten…
        elif slip:
            dc[i] = (dc[i] + 1) % 10  # …or a digit misread
        top = dc[i] - borrow
        terms = f"{dc[i]} - {db[i]}" + (f" - {borrow}" if borrow else "")
        if top < db[i]:
            lines.append(f"{terms} needs a borrow: {top + 10} - {db[i]} = {top + 10 - db[i]}, borrow 1.")
            out.append(top + 10 - db[i])
            borrow = 1
        else:
            lines.append(f"{terms} = {top - db[i]}.")
            out.append(top - db[i])
            borrow = 0
    return lines, int("".join(map(str, out[::-1])))


def _solve(p: Problem, slip_at: int | None) -> tuple[list[str], int]:
    """Reasoning lines and the final answer they reach (a slip in column `slip_at`
    when set; sum3 counts the columns of both additions)."""
    if p.family == "add":
        lines, total = _add_lines(*p.operands, slip_at)
        return lines + [f"So {p.operands[0]} + {p.operands[1]} = {total}."], total
    if p.family == "sum3":
        a, b, c = p.operands
        first, ab = _add_lines(a, b, slip_at)
        second, total = _add_lines(ab, c, None if slip_at is None or slip_at < 2 else slip_at - 2)
        return ([f"First add {a} and {b}."] + first[1:] + [f"That gives {ab}.", f"Then add {ab} and {c}."]
                + second[1:] + [f"So {a} + {b} + {c} = {total}."]), total
    b, c = p.operands
    lines, x = _subtract_lines(c, b, slip_at)
    return [f"Subtract {b} from both sides: x = {c} - {b}."] + lines + [f"So x = {x}."], x


def _to_chinese(line: str) -> str:
    for en, zh in _CHINESE.items():
        line = line.replace(en, zh)
    return line.replace(" ,", ",").replace("  ", " ")


def first_column(lines: list[str]) -> int:
    """Index of the first column's line (the first that starts with a digit)."""
    return next(i for i, line in enumerate(lines) if line[:1].isdigit())


def trace(p: Problem, flaw: str | None) -> tuple[str, str | None]:
    """(reasoning, response) for `p`; `flaw` is None for a clean trace. A loop has
    no response (None): its reasoning repeats one line far past any context."""
    lines, answer = _solve(p, 0 if flaw == "wrong" else None)
    if flaw == "wrong" and str(answer) == p.answer:
        raise AssertionError(f"{p.id}: a slip in the first column left the answer right")
    d = first_column(lines) + 1  # the decision point: the line after the first column
    if flaw == "drift":
        lines = lines[:d] + [DRIFT_LEAD + _to_chinese(lines[d])] + [_to_chinese(line) for line in lines[d + 1:]]
    elif flaw == "loop":
        return "\n".join(lines[:d] + [LOOP_LINE.format(line=lines[d - 1])] * 200), None
    elif flaw == "code":
        ops = " + ".join(map(str, p.operands)) if p.family != "equation" else f"{p.operands[1]} - {p.operands[0]}"
        lines = lines[:d] + ["Let me check with code:", "```python", f"print({ops})", "```"] + lines[d:]
    return "\n".join(lines), f"The answer is \\boxed{{{answer}}}."


def completion(reasoning: str, response: str | None) -> str:
    """The assistant turn after the forced `<think>\\n`, as the teacher writes it
    (a loop never closes its think block)."""
    return reasoning if response is None else f"{reasoning}\n{THINK_CLOSE}\n\n{response}"


def pick_flaw(rng: random.Random, mix: dict[str, float] = TRAINING_MIX) -> str | None:
    r = rng.random()
    for flaw, share in mix.items():
        if r < share:
            return flaw
        r -= share
    return None


def problem_sets(n_bundled: int = 1200, n_held_out: int = 300, contaminated_every: int = 100):
    """(bundled, held_out) problem records. The held-out set is the `lab`
    benchmark; the bundled set is what the teacher is sampled on, and every
    `contaminated_every`-th bundled problem is a held-out one copied verbatim
    (the leak decontamination has to catch)."""
    held_out = make_problems(n_held_out, seed=1, prefix="lab-test")
    fresh = iter(make_problems(n_bundled, seed=2, prefix="lab", exclude={p.problem for p in held_out}))
    bundled = [held_out[(i // contaminated_every) % n_held_out] if i % contaminated_every == contaminated_every - 1
               else next(fresh) for i in range(n_bundled)]
    record = lambda p: {"id": p.id, "problem": p.problem, "answer": p.answer, "family": p.family}  # noqa: E731
    return [record(p) for p in bundled], [record(p) for p in held_out]


def number_words(n: int) -> str:
    """1-999 in American English words: "three hundred forty-seven" (no "and")."""
    if not 1 <= n <= 999:
        raise ValueError(f"number_words covers 1-999, not {n}")
    hundreds, rest = divmod(n, 100)
    head = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest:
        tens, ones = divmod(rest, 10)
        head.append(_ONES[rest] if rest < 20 else _TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    return " ".join(head)


def words_number(text: str) -> int:
    """The inverse of `number_words`."""
    value = 0
    for word in text.split():
        if word == "hundred":
            value *= 100
            continue
        tens, _, ones = word.partition("-")
        value += _TENS.index(tens) * 10 + _ONES.index(ones) if ones else (
            _TENS.index(word) * 10 if word in _TENS[2:] else _ONES.index(word))
    return value


@dataclass(frozen=True)
class GeneralProblem:
    id: str
    family: str
    problem: str          # the user's message
    answer: str           # the reference reply
    number: int | None    # words/digits: the number asked about

    def chat_row(self) -> dict:
        """The bundled row: chat data in the `messages` format."""
        return {"id": self.id, "messages": [{"role": "user", "content": self.problem},
                                            {"role": "assistant", "content": self.answer}], "family": self.family}

    def problem_row(self) -> dict:
        """A plain problem row (the held-out benchmark's format)."""
        return {"id": self.id, "problem": self.problem, "answer": self.answer, "domain": "general"}


def make_general(rng: random.Random, family: str, index: int, prefix: str = "lab-general",
                 number: int | None = None) -> GeneralProblem:
    pid = f"{prefix}-{family}-{index}"
    if family in ("words", "digits"):
        n = number if number is not None else rng.randint(1, 999)
        if family == "words":
            return GeneralProblem(pid, family, rng.choice(_WORDS_PHRASES).format(n=n), number_words(n), n)
        return GeneralProblem(pid, family, rng.choice(_DIGITS_PHRASES).format(w=number_words(n)), str(n), n)
    if family == "self":
        return GeneralProblem(pid, family, rng.choice(SELF_PROMPTS), SELF_REPLY, None)
    if family == "greet":
        text = rng.choice(sorted(GREETINGS))
        return GeneralProblem(pid, family, text, GREETINGS[text], None)
    raise ValueError(f"unknown general family {family!r}; have {GENERAL_FAMILIES}")


def _misread(n: int) -> int:
    """The neighbouring number a slip reads instead of n: only the ones digit changes."""
    return n + 1 if n % 10 != 9 else n - 1


def _rest_words(r: int, shown: int) -> str:
    """The line for the last two digits `r` (1-99), its words those of `shown`."""
    if r < 20 or r % 10 == 0:
        return f"{r}: {number_words(shown)}."
    return f"{r} = {r - r % 10} + {r % 10}: {number_words(shown)}."


def _words_lines(n: int, m: int) -> list[str]:
    """Digits → words for n, working with m (n itself, or a misread neighbour from the first line on)."""
    hundreds, rest = divmod(m, 100)
    if not hundreds:
        lines = [_rest_words(rest, m)]
    else:
        lines = [f"{m} = {hundreds} hundreds" + (f" + {rest}." if rest else "."),
                 f"{hundreds} hundreds: {number_words(hundreds * 100)}."]
        if rest:
            lines.append(_rest_words(rest, rest))
    lines[0] = str(n) + lines[0][len(str(m)):]  # the slip: the number is read as m in this first line
    return lines + [f"So {n} is {number_words(m)}."]


def _digits_lines(n: int, m: int) -> list[str]:
    """Words → digits for n, the digits written those of m (n itself, or a misread neighbour:
    the same but for the ones digit)."""
    words, (hundreds, rest) = number_words(n), divmod(n, 100)
    m_rest = m % 100

    def rest_line(head: str) -> str:
        if rest < 20 or rest % 10 == 0:
            return f"{head} = {m_rest}."
        tens, ones = number_words(rest).split("-")
        return f"{head} = {tens} + {ones} = {m_rest - m_rest % 10} + {m_rest % 10} = {m_rest}."

    if not hundreds:
        lines = [rest_line(words)]
    elif not rest:
        lines = [f"{words} = {hundreds} hundreds = {m}."]
    else:
        h_words = number_words(hundreds * 100)
        lines = [f"{words} = {h_words} + {number_words(rest)}.", f"{h_words} = {hundreds} hundreds = {hundreds * 100}.",
                 rest_line(number_words(rest)), f"{hundreds * 100} + {m_rest} = {m}."]
    return lines + [f"So {words} is {m}."]


def general_trace(p: GeneralProblem, flaw: str | None = None) -> tuple[str, str]:
    """(reasoning, reply) for `p`: the reasoning is empty for self and greet (simple queries get no
    chain of thought). `wrong` misreads the ones digit where it is first written (reasoning and
    reply name the neighbouring number); `drift` slides into Chinese from the second line on."""
    if p.family in ("self", "greet"):
        if flaw is not None:
            raise ValueError(f"{p.id}: a {p.family} reply has no reasoning to be flawed")
        return "", p.answer
    if flaw not in (None, *GENERAL_FLAWS):
        raise ValueError(f"unknown general flaw {flaw!r}; have {GENERAL_FLAWS}")
    n = p.number
    m = _misread(n) if flaw == "wrong" else n
    lines = (_words_lines if p.family == "words" else _digits_lines)(n, m)
    reply = number_words(m) if p.family == "words" else str(m)
    if flaw == "drift":
        lines = lines[:1] + [DRIFT_LEAD + _general_chinese(lines[1])] + [_general_chinese(x) for x in lines[2:]]
    return "\n".join(lines), reply


def _general_chinese(line: str) -> str:
    for en, zh in _CHINESE_GENERAL.items():
        line = line.replace(en, zh)
    return line


def general_sets(n_held_out: int = 150, seed: int = 11) -> tuple[list[dict], list[dict]]:
    """(bundled chat rows, held-out problem rows). The bundle (`GENERAL_SHARES`: words and digits
    on distinct numbers, self and greet phrasings repeating under unique ids) and the held-out
    words/digits problems (the `lab_general` benchmark) never share a (family, number)."""
    rng = random.Random(seed)
    pairs = [(f, n) for f in ("words", "digits") for n in range(1, 1000)]
    rng.shuffle(pairs)
    held = pairs[:n_held_out]
    taken = iter(pairs[n_held_out:])
    bundled = []
    for family, count in GENERAL_SHARES.items():
        for i in range(count):
            if family in ("words", "digits"):
                number = next(n for f, n in taken if f == family)
                bundled.append(make_general(rng, family, i, number=number))
            else:
                bundled.append(make_general(rng, family, i))
    held_out = [make_general(rng, f, i, prefix="lab-general-test", number=n) for i, (f, n) in enumerate(held)]
    order = random.Random(seed + 1)
    order.shuffle(bundled)
    return [p.chat_row() for p in bundled], [p.problem_row() for p in held_out]


def write_general_sets() -> None:
    """(Re)write `GENERAL_PROBLEMS` and `GENERAL_HELD_OUT` from `general_sets()`."""
    for path, rows in zip((GENERAL_PROBLEMS, GENERAL_HELD_OUT), general_sets()):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
