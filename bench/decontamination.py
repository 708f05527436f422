"""Decontamination: false positives on clean problems, catches of planted leaks, beside open-r1's rule.

Clean inputs are real maths problems that are in no checked benchmark:
leave-one-out over the shipped benchmarks (each benchmark's problems and
solutions checked against all the others, so MATH-500 against OlympiadBench,
AIME, AMC…, sharing their phrasing but none of their problems), and the lab's
1,188 bundled problems that are not copies (same templates as the held-out
`lab` benchmark, other numbers). Each clean problem is also wrapped in an
R1-shaped trace that restates it and works through its reference solution.

Planted leaks, against all shipped benchmarks: a benchmark problem in the
problem column (verbatim; lightly edited: two words swapped for synonyms and
`\\frac` typeset as `\\dfrac`; its `$` signs removed; wrapped in instructions), and a trace whose reasoning
quotes a benchmark problem (whole, or a verbatim run of 30 of its words outside
drawings). The lab's 12
planted verbatim copies are counted too.

Rules compared:
- factory: `filters/decontamination.py` with its shipped defaults;
- open-r1: `scripts/decontaminate.py`'s rule (from s1): lower-cased,
  whitespace-split word 8-grams of the problem column, contaminated when any is a
  benchmark problem's 8-gram (it does not look at traces);
- any 8-gram: the same rule on the problem, reasoning and response, punctuation
  split off, plus an exact-problem match (this factory's rule before issue 11).

    python bench/decontamination.py
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402
from filters.decontamination import DEFAULT_BENCHMARKS, SHIPPED, DecontaminationFilter  # noqa: E402
from filters.text import words  # noqa: E402

SYNONYMS = {"find": "determine", "compute": "calculate", "what": "which", "determine": "find",
            "the": "a", "is": "equals", "and": "plus", "let": "suppose", "if": "when", "are": "were"}


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in open(SHIPPED / f"{name}.jsonl", encoding="utf-8")]


def r1_trace(problem: str, solution: str) -> str:
    """An R1-shaped reasoning: restate, work through the solution, hesitate, conclude."""
    body = re.sub(r"\$\$(.+?)\$\$", r"\n\\[\n\1\n\\]\n", solution or "", flags=re.S)
    return (f"Okay, so I need to solve this problem: {problem}\n\nLet me think about it step by step.\n\n"
            f"{body}\n\nWait, let me double-check that. Going back over each step, it holds.")


def edit(problem: str, rng: random.Random, k: int = 2) -> str:
    toks = problem.split(" ")
    where = [i for i, t in enumerate(toks) if t.lower().strip(".,?") in SYNONYMS]
    for i in rng.sample(where, min(k, len(where))):
        toks[i] = SYNONYMS[toks[i].lower().strip(".,?")]
    return " ".join(toks).replace("\\frac", "\\dfrac").replace(". ", ".  ")


class Plain8:
    """n-gram overlap: open-r1's rule (problem only, whitespace words) or any field (punctuation split)."""

    def __init__(self, names: list[str], fields: tuple[str, ...], split, exact: bool = False):
        self.fields, self.split = fields, split
        self.grams, self.exact = set(), set()
        for name in names:
            for r in load(name):
                w = split(r["problem"])
                self.grams.update(tuple(w[i:i + 8]) for i in range(len(w) - 7))
                if exact:
                    self.exact.add(" ".join(w))

    def flags(self, row: dict) -> bool:
        if " ".join(self.split(row.get("problem") or "")) in self.exact:
            return True
        for f in self.fields:
            w = self.split(row.get(f) or "")
            if any(tuple(w[i:i + 8]) in self.grams for i in range(len(w) - 7)):
                return True
        return False


def rules(names: list[str]) -> dict:
    factory = DecontaminationFilter(benchmarks=names)
    return {"factory": lambda row: factory.reject(dict(row)) is not None,
            "open-r1": Plain8(names, ("problem",), lambda t: t.lower().split()).flags,
            "any 8-gram": Plain8(names, ("problem", "reasoning", "response"), words, exact=True).flags}


def row(problem: str, reasoning: str = "", response: str = "") -> dict:
    return {"problem": problem, "reasoning": reasoning, "response": response}


def main() -> int:
    print(cpu_line(), flush=True)
    rng = random.Random(0)
    names = list(DEFAULT_BENCHMARKS)
    counts: dict[str, dict[str, list[int]]] = {}

    def tally(case: str, rule: str, flagged: bool) -> None:
        c = counts.setdefault(case, {}).setdefault(rule, [0, 0])
        c[0] += flagged
        c[1] += 1

    t0 = time.perf_counter()
    # Clean: leave one benchmark out, check it against the others.
    for held in names:
        checks = rules([n for n in names if n != held])
        for r in load(held):
            clean = {"clean problem": row(r["problem"]),
                     "clean trace (restates its problem, works the solution)":
                         row(r["problem"], r1_trace(r["problem"], r.get("solution", "")),
                             f"The answer is $\\boxed{{{r['answer']}}}$.")}
            for case, x in clean.items():
                for rule, check in checks.items():
                    tally(case, rule, check(x))
    # The lab: templated problems, the same templates as its benchmark, other numbers.
    checks = rules(names)
    held = {r["problem"] for r in load("lab")}
    for r in (json.loads(line) for line in open(SHIPPED.parent / "lab" / "problems.jsonl", encoding="utf-8")):
        case = "lab planted copy (verbatim)" if r["problem"] in held else "lab clean problem (same templates)"
        for rule, check in checks.items():
            tally(case, rule, check(row(r["problem"])))
    # Leaks of every benchmark problem long enough to quote (12+ words).
    filler = [r["solution"] for r in load("gsm8k_test")]
    for name in names:
        for r in load(name):
            p = r["problem"]
            if len(words(p)) < 12:
                continue
            quote = re.sub(r"\[asy\].*?\[/asy\]", " ", p, flags=re.S).split()
            start = rng.randint(0, max(0, len(quote) - 30))
            leaks = {
                "leak: problem verbatim": row(p),
                "leak: problem lightly edited": row(edit(p, rng)),
                "leak: problem as plain text (no $)": row(p.replace("$", "")),
                "leak: problem inside instructions": row(f"Solve the following problem. {p} Give the answer in a box."),
                "leak: trace quotes the problem": row("What is 17 + 25?", f"{rng.choice(filler)}\n\nThis reminds me "
                                                      f"of a problem I know: {p}\n\n{rng.choice(filler)}"),
            }
            if len(quote) >= 30:
                leaks["leak: trace quotes 30 words of it"] = row(
                    "What is 17 + 25?", f"{rng.choice(filler)} I recall: {' '.join(quote[start:start + 30])} …")
            for case, x in leaks.items():
                for rule, check in checks.items():
                    tally(case, rule, check(x))
    seconds = time.perf_counter() - t0

    rule_names = ["factory", "open-r1", "any 8-gram"]
    print(f"{'case':<56}{'rows':>6}" + "".join(f"{r:>13}" for r in rule_names))
    for case, by_rule in counts.items():
        n = next(iter(by_rule.values()))[1]
        what = "flagged (false positives)" if "clean" in case else "caught"
        print(f"{case:<56}{n:>6}" + "".join(f"{100 * by_rule[r][0] / n:>12.1f}%" for r in rule_names) + f"   {what}")

    def total(pred) -> dict:
        out = {}
        for r in rule_names:
            hit = sum(by[r][0] for c, by in counts.items() if pred(c))
            n = sum(by[r][1] for c, by in counts.items() if pred(c))
            out[r] = (hit, n)
        return out

    fp = total(lambda c: "clean" in c)
    caught = total(lambda c: "clean" not in c)
    print("\nfalse-positive rate on clean rows: " + ", ".join(f"{r} {100 * h / n:.2f}% ({h}/{n})" for r, (h, n) in fp.items()))
    print("catch rate on planted leaks:       " + ", ".join(f"{r} {100 * h / n:.1f}% ({h}/{n})" for r, (h, n) in caught.items()))
    print(f"({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
