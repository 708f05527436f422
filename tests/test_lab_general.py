"""The lab's general (non-reasoning) task: numbers in words and digits, self-cognition and
greetings as chat data; which prompts get a chain of thought; the bundled files; its flaws
against the filters; the teacher's training stream. Fast: no engine, no training."""

from __future__ import annotations

import json
import random

import pytest

from factory import lab
from factory.core.problems import load_problems
from factory.core.traces import NO_THINK, THINK_CLOSE, THINK_PREFIX
from factory.lab import tasks, train
from filters.answers import same_reply
from filters.language import LanguageFilter
from generators.general import GENERAL

read = lambda path: [json.loads(line) for line in path.open(encoding="utf-8")]  # noqa: E731


def test_number_words_round_trip_for_1_to_999():
    words = [tasks.number_words(n) for n in range(1, 1000)]
    assert all(tasks.words_number(w) == n for n, w in enumerate(words, 1)) and len(set(words)) == 999
    assert tasks.number_words(347) == "three hundred forty-seven" and tasks.number_words(40) == "forty"
    assert tasks.number_words(910) == "nine hundred ten" and tasks.number_words(700) == "seven hundred"
    assert not any(" and " in w for w in words)
    for bad in (0, 1000):
        with pytest.raises(ValueError):
            tasks.number_words(bad)


def test_words_and_digits_get_a_chain_of_thought_self_and_greet_none():
    """generators/general.py's rule (`--no-cot-words 4`, `--no-cot-pattern`) on every phrasing."""
    prompter = train.general_prompter()
    rule = lambda text: prompter.no_cot_rule({"problem": text})  # noqa: E731
    for n in range(1, 1000):  # the shortest numbers make the shortest prompts ("seven")
        for phrase in tasks._WORDS_PHRASES:
            assert rule(phrase.format(n=n)) is None, phrase
        for phrase in tasks._DIGITS_PHRASES:
            assert rule(phrase.format(w=tasks.number_words(n))) is None, phrase
    for text in (*tasks.SELF_PROMPTS, *tasks.GREETINGS):
        assert rule(text) is not None, text


def test_clean_traces_reach_the_reference_and_wrong_ones_a_neighbour():
    rng = random.Random(0)
    for family in ("words", "digits"):
        for n in range(1, 1000):
            p = tasks.make_general(rng, family, n, number=n)
            reasoning, reply = tasks.general_trace(p)
            assert reply == p.answer and reasoning.endswith(f" is {reply}.")
            wrong_reasoning, wrong = tasks.general_trace(p, "wrong")
            assert not same_reply(p.answer, wrong) and wrong_reasoning.endswith(f" is {wrong}.")
            neighbour = tasks.words_number(wrong) if family == "words" else int(wrong)
            assert abs(neighbour - n) == 1
            # the slip is the ones digit where it is first written: the traces agree up to there
            clean, slipped = reasoning.split("\n"), wrong_reasoning.split("\n")
            first = next(i for i, (a, b) in enumerate(zip(clean, slipped)) if a != b)
            assert first <= 2
            # drift: one decision too, at the start of the second line
            assert tasks.general_trace(p, "drift")[0].split("\n")[1].startswith(tasks.DRIFT_LEAD)
    for family in ("self", "greet"):
        p = tasks.make_general(rng, family, 0)
        assert tasks.general_trace(p) == ("", p.answer)


def test_a_drift_trace_trips_the_language_filter_and_a_clean_one_passes():
    f = LanguageFilter()
    rng = random.Random(1)
    for i in range(200):
        p = tasks.make_general(rng, ("words", "digits")[i % 2], i)
        for flaw, rejected in ((None, False), ("drift", True), ("wrong", False)):
            reasoning, reply = tasks.general_trace(p, flaw)
            row = {"problem": p.problem, "prompt": p.problem, "domain": GENERAL, "reasoning": reasoning,
                   "response": reply, "completion": f"{THINK_PREFIX}{reasoning}\n{THINK_CLOSE}\n\n{reply}"}
            assert (f.reject(row) is not None) == rejected, (p.problem, flaw, reasoning)


def test_bundled_files_are_the_generator_s_and_read_as_general_rows():
    bundled, held_out = tasks.general_sets()
    assert read(tasks.GENERAL_PROBLEMS) == bundled and read(tasks.GENERAL_HELD_OUT) == held_out
    families = [r["family"] for r in bundled]
    assert {f: families.count(f) for f in tasks.GENERAL_FAMILIES} == tasks.GENERAL_SHARES
    assert len({r["id"] for r in bundled}) == len(bundled) == 400
    rows = load_problems(str(tasks.GENERAL_PROBLEMS)).rows  # ids given: repeated phrasings are no duplicates
    assert all(r["domain"] == GENERAL and r["answer"] for r in rows)
    bench = load_problems(str(tasks.GENERAL_HELD_OUT)).rows
    assert len(bench) == 150 and {r["domain"] for r in bench} == {GENERAL}
    assert tasks.GENERAL_HELD_OUT.parent == lab.HELD_OUT.parent


def test_held_out_is_disjoint_from_the_bundle_and_the_training_stream():
    bundled, held_out = tasks.general_sets()
    numbered = lambda rows: {r["messages"][-1]["content"] if "messages" in r else r["answer"]  # noqa: E731
                             for r in rows if r.get("family", "words") in ("words", "digits")}
    held = numbered(held_out)
    assert len(held) == len(held_out) and not held & numbered(bundled)
    assert not {r["problem"] for r in held_out} & {r["messages"][0]["content"] for r in bundled}
    assert train.reserved_general() == held | numbered(bundled)
    check = train._general_check(0)
    assert len(check) == 100 and not {p.answer for p in check if p.number} & train.reserved_general()
    stream, rng = train._unseen_general(check), random.Random(0)
    seen = [stream(rng) for _ in range(3000)]
    kept_out = train.reserved_general() | {p.answer for p in check if p.number}
    assert not {p.answer for p in seen if p.number} & kept_out
    assert {p.family for p in seen} == set(tasks.GENERAL_FAMILIES)


def test_a_general_example_is_rendered_as_generate_renders_it():
    """The prompt is `factory.generate`'s (generators/run.py: Prompter.turn → render_prompt) and
    the completion after it is reasoning + `</think>` + reply, or the reply alone after an empty
    think block."""
    from transformers import AutoTokenizer

    from factory.core.prompts import load_templates, render_prompt
    from generators.general import GeneralOptions, Prompter

    tok = AutoTokenizer.from_pretrained(lab.TEACHER)
    prompter = Prompter(load_templates({GENERAL}), GeneralOptions())
    rows = {r["problem_id"]: r for r in load_problems(str(tasks.GENERAL_PROBLEMS)).rows}
    rng = random.Random(2)
    for family in tasks.GENERAL_FAMILIES:
        p = tasks.make_general(rng, family, 0)
        turn = prompter.turn({"problem": p.problem, "answer": p.answer, "domain": GENERAL, "history": None})
        expected = render_prompt(tok, turn.user, turn.history, turn.think)
        ids, n_prompt = train.encode_general(tok, train.general_prompter(), p, None)
        assert tok.decode(ids[:n_prompt]) == expected and f'"{p.answer}"' in expected
        completion = tok.decode(ids[n_prompt:])
        if family in ("self", "greet"):
            assert expected.endswith(NO_THINK) and completion == p.answer + tok.eos_token
        else:
            assert expected.endswith(THINK_PREFIX)
            assert completion.endswith(f"\n{THINK_CLOSE}\n\n{p.answer}{tok.eos_token}")
    # and a bundled row, as generate reads it from the file
    row = next(r for r in rows.values() if r["family"] == "words")
    p = tasks.GeneralProblem(row["problem_id"], "words", row["problem"], row["answer"], None)
    assert train.general_prompt(tok, prompter, p)[0] == render_prompt(tok, *_turn_args(prompter.turn(row)))


def _turn_args(turn):
    return turn.user, turn.history, turn.think
