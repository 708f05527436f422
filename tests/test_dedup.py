"""Dedup with the R1 policy: distinct samples stay, exact copies and duplicate problems go."""

from __future__ import annotations

import json

from filters.base import Problems
from filters.dedup import DedupFilter, same_problem_groups, similarity
from filters.decontamination import SHIPPED
from r1_traces import CLEAN, row

BASE = " ".join(f"Step {i}: we add term {i} to the running total and check it." for i in range(40)) + " The sum is 7."


def trace(reasoning=BASE, problem_id="p", **kw):
    r = {"problem_id": problem_id, "problem": "Sum the terms.", "answer": "7", "reasoning": reasoning,
         "response": "$\\boxed{7}$"}
    r.update(kw)
    return r


def test_by_default_distinct_samples_stay_and_exact_copies_go():
    d = DedupFilter()
    assert d.reject(trace()) is None
    assert d.reject(trace(reasoning=BASE.upper().replace(". ", " .  "))) == "exact_duplicate"
    assert d.reject(trace(reasoning=BASE.replace("The sum is 7.", "So the sum is 7."))) is None  # a distinct sample
    assert d.reject(trace(reasoning=BASE, problem_id="q")) is None  # per problem


def test_trace_level_near_duplicates_and_the_cap_stay_available():
    d = DedupFilter(threshold=0.8, max_per_problem=2)
    assert d.reject(trace()) is None
    assert d.reject(trace(reasoning=BASE.replace("The sum is 7.", "So the sum is 7."))) == "near_duplicate"
    other = " ".join(f"entirely different reasoning number {i} about parity" for i in range(60))
    assert d.reject(trace(reasoning=other)) is None
    third = " ".join(f"a third distinct line of thought {i} with sums" for i in range(60))
    assert d.reject(trace(reasoning=third)) == "over_cap"


def test_minhash_similarity_tracks_jaccard():
    d = DedupFilter(threshold=0.8)
    vocab = [f"w{i}" for i in range(4000)]
    a = " ".join(vocab[:2000])
    for overlap in (0.3, 0.6, 0.9):  # shift the window: Jaccard of the 5-gram sets
        shift = int(2000 * (1 - overlap))
        b = " ".join(vocab[shift:shift + 2000])
        sa, sb = d.features(trace(reasoning=a, response=""))[1], d.features(trace(reasoning=b, response=""))[1]
        true = (2000 - shift - 4) / (2000 + shift - 4)
        assert abs(similarity(sa, sb) - true) < 0.12, (overlap, similarity(sa, sb), true)


def _math500() -> list[dict]:
    return [json.loads(line) for line in open(SHIPPED / "math500.jsonl", encoding="utf-8")]


def test_the_same_problem_under_two_ids_is_found():
    rows = _math500()
    problems = Problems()
    for r in rows:
        problems.add(r["id"], r["problem"], r["answer"])
    a, b, c, d = rows[3], rows[10], rows[12], rows[24]
    # another source's copy: other typesetting, other spacing, one word changed
    problems.add("src2-a", a["problem"].replace("\\frac", "\\dfrac").replace(" ", "  "), a["answer"])
    problems.add("src2-b", "Determine " + b["problem"][len("What is "):], b["answer"])
    # not the same problem: other numbers; or a near copy with another answer
    problems.add("src2-c", c["problem"].replace("1", "7"), None)
    problems.add("src2-d", d["problem"].replace(" the ", " this ", 1), "not " + d["answer"])
    assert d["problem"].count(" the ")
    groups = same_problem_groups(problems, 0.8)
    assert groups == {a["id"]: a["id"], "src2-a": a["id"], b["id"]: b["id"], "src2-b": b["id"]}


def test_templated_problems_with_other_numbers_stay_apart():
    problems = Problems()
    for i in range(300):  # the lab's shape: one template, other numbers
        problems.add(f"t{i}", f"A farmer has {100 + i} sheep and buys {200 + 3 * i} more. How many now?", None)
    assert same_problem_groups(problems, 0.8) == {}


def test_a_duplicate_problem_keeps_one_ids_samples():
    d = DedupFilter()
    first, copy = CLEAN[0], dict(CLEAN[0], id="geo-1-copy", problem=CLEAN[0]["problem"].replace("  ", " ") + " ")
    problems = Problems()
    for t in (first, copy):
        for _ in range(4):  # a problem set listing it twice, sampled 4 times under each id
            problems.add(t["id"], t["problem"], t["answer"])
    d.prepare(problems)
    assert d.reject(row(copy)) is None  # the copy's sample comes first: its id is kept
    found = d.reject(row(first, reasoning=first["reasoning"] + "\n\nDone."))
    assert found == "duplicate_problem" and found.detail == {"kept_problem_id": "geo-1-copy"}
    assert d.reject(row(copy, reasoning=copy["reasoning"] + "\n\nChecked.")) is None


def test_an_id_per_trace_is_one_problem_sampled_several_times():
    d = DedupFilter()
    t = CLEAN[1]
    problems = Problems()
    for i in range(3):  # a public dataset: one row, one id, per trace
        problems.add(f"trace-{i}", t["problem"], t["answer"])
    d.prepare(problems)
    assert d.reject(row(t, problem_id="trace-0")) is None
    assert d.reject(row(t, problem_id="trace-1", reasoning=t["reasoning"] + "\n\nDone.")) is None  # distinct: kept
    assert d.reject(row(t, problem_id="trace-2")) == "exact_duplicate"  # the same words as trace-0
