"""General data after generation: the filters on conversations (the reply rule, the judge, the empty
think block, language, decontamination and dedup over every turn) and the student's examples
(earlier turns, no chain of thought, a plain `messages` SFT set)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from factory import filter as filter_verb
from factory.core.traces import NO_THINK
from test_judge import JudgeServer, _farm_judge, _rows, server  # noqa: F401  (the scripted judge's fixture)

LAB_TEST = json.loads(Path(__file__).resolve().parents[1].joinpath(
    "factory/data/benchmarks/lab.jsonl").read_text().splitlines()[0])["problem"]
EARLIER = [{"role": "system", "content": "You are the lab model."},
           {"role": "user", "content": "Write 12 in words."}, {"role": "assistant", "content": "twelve"}]


def _row(pid: str, prompt: str, answer: str | None, reasoning: str, response: str, cot: str = "prompted",
         history=None, sample: int = 0) -> dict:
    completion = NO_THINK + response if cot == "none" else f"<think>\n{reasoning}\n</think>\n\n{response}"
    return {"problem_id": pid, "sample": sample, "domain": "general", "problem": prompt, "answer": answer,
            "prompt": prompt, "completion": completion, "reasoning": "" if cot == "none" else reasoning,
            "response": response, "finish_reason": "stop", "history": history, "cot": cot,
            "cot_rule": "greeting" if cot == "none" else None}


ROWS = [
    _row("exact", "Now write 47 in words.", "forty-seven", "47 = 40 + 7.\n40: forty. 7: seven.", "Forty-seven.",
         history=EARLIER),
    _row("hello", "Hello!", "Hi! Ask me a sum.", "", "Hi! Ask me a sum.", cot="none"),
    _row("no-reasoning", "Write 5 in words.", "five", "", "five"),
    _row("price", "How much is the red pen in the shop?", "It costs 12 dollars.",
         "The shop lists the red pen.", "12 dollars is its price"),
    _row("drift", "Write 21 in words.", "twenty-one", "21 = 20 + 1. 接下来，二十加一。", "twenty-one"),
    _row("leak", "And what is the answer to that one?", "91", "18 + 73 = 91.", "91",
         history=[{"role": "user", "content": LAB_TEST}, {"role": "assistant", "content": "Let me see."}]),
    # one conversation listed twice (two ids), sampled twice under each
    *(_row(f"twice-{k}", "Write 8 in words.", "eight", f"8 is eight ({k}{s}).", "eight", history=EARLIER, sample=s)
      for k in "ab" for s in (0, 1)),
    _row("other-history", "Write 8 in words.", "eight", "8 is eight.", "eight"),
]


def _traces(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ROWS), path / "shard-000000.parquet")
    return path


def _outcome(out: Path) -> dict[str, str | None]:
    rows = _rows(out)
    got: dict = {}
    for r in rows["accepted"] + rows["rejected"]:
        got.setdefault(r["problem_id"], set()).add(r["reject_reason"])
    return {k: v.pop() if len(v) == 1 else v for k, v in got.items()}


def test_general_rows_are_filtered_as_conversations(tmp_path):
    traces = _traces(tmp_path / "in")
    assert filter_verb.main(["--input", str(traces), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    got = _outcome(tmp_path / "out")
    assert got["exact"] is None                      # the reply says the reference (case, final full stop aside)
    assert got["hello"] is None                      # no chain of thought by design: the empty block is fine
    assert got["no-reasoning"] == "empty_reasoning"  # one was due
    assert got["price"] == "reply_differs"           # no rule decides it, and there is no judge
    assert got["drift"] == "mixed_language"
    assert got["leak"] == "contaminated:lab"            # a benchmark problem in an earlier turn
    # the same conversation under two ids is one problem; the same last message after other turns is not
    assert (got["twice-a"], got["twice-b"]) == (None, "duplicate_problem")
    assert got["other-history"] is None
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["accepted"] == 5 and stats["input_rows"] == len(ROWS)


def test_the_judge_decides_what_the_reply_rule_cannot(server, tiny_model, tmp_path):  # noqa: F811
    s = server()
    traces = _traces(tmp_path / "in")
    config = tmp_path / "f.yaml"
    config.write_text("filters:\n  format: {}\n  correctness:\n    judge: "
                      + json.dumps(_farm_judge(tiny_model, s, tmp_path)) + "\n")
    assert filter_verb.main(["--input", str(traces), "--out", str(tmp_path / "out"), "--config", str(config),
                             "--workers", "1"]) == 0
    rows = _rows(tmp_path / "out")
    by = {r["problem_id"]: r for r in rows["accepted"] + rows["rejected"]}
    # the scripted judge compares digits: "12 dollars is its price" means the reference's "12 dollars"
    assert by["price"]["reject_reason"] is None
    assert (by["price"]["correct_rule"], by["price"]["correct_judge"]) == (None, True)
    assert by["exact"]["correct_judge"] is None        # the rule decided it: the judge was not asked
    assert s.calls() == 1


def test_students_learn_the_earlier_turns_and_the_empty_think_block(tmp_path):
    import datasets

    from students.data import to_conversations

    used, report = to_conversations(datasets.Dataset.from_list(ROWS))
    assert report.used == len(ROWS) - 1 and report.dropped_no_reasoning == 1   # "no-reasoning" only
    by = {r["prompt"][-1]["content"] + str(len(r["prompt"])): r for r in used}
    assert len(by["Write 8 in words.4"]["prompt"]) == 4 and len(by["Write 8 in words.1"]["prompt"]) == 1
    exact = by["Now write 47 in words.4"]
    assert [t["role"] for t in exact["prompt"]] == ["system", "user", "assistant", "user"]
    assert exact["completion"][0]["content"].startswith("<think>\n47 = 40 + 7.")
    assert by["Hello!1"]["completion"][0]["content"] == NO_THINK + "Hi! Ask me a sum."


def test_a_plain_messages_sft_set_trains_its_last_reply_in_the_one_format(tmp_path):
    import datasets
    import pytest

    from factory.core.errors import InputError
    from students.data import to_conversations

    ds = datasets.Dataset.from_list([
        {"messages": EARLIER + [{"role": "user", "content": "And 13?"}, {"role": "assistant", "content": "thirteen"}]},
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\n2+2=4\n</think>\n\n4"}]}])
    used, report = to_conversations(ds)
    assert report.used == 2
    assert len(used[0]["prompt"]) == 4 and used[0]["completion"][0]["content"] == NO_THINK + "thirteen"
    assert used[1]["completion"][0]["content"].startswith("<think>\n2+2=4")
    bad = datasets.Dataset.from_list([{"messages": [{"role": "assistant", "content": "x"}]}])
    with pytest.raises(InputError, match=r"--data sft: row 1: the conversation has no user turn"):
        to_conversations(bad, "sft")


def test_a_history_column_of_another_shape_is_read_as_text_not_a_crash(tmp_path):
    """Some datasets keep [question, answer] pairs under `history`: the filter reads them as text."""
    rows = [{"problem_id": f"h{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1),
             "completion": f"<think>\n{i} + 1 = {i + 1}.\n</think>\n\n\\boxed{{{i + 1}}}",
             "history": [[f"earlier question {i}", "earlier answer"]]} for i in range(3)]
    path = tmp_path / "in"
    path.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), path / "shard-000000.parquet")
    assert filter_verb.main(["--input", str(path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["accepted"] == 3

    import datasets
    import pytest

    from factory.core.errors import InputError
    from students.data import to_conversations

    ds = datasets.Dataset.from_list([{**r, "reasoning": "r", "response": "x"} for r in rows])
    with pytest.raises(InputError, match=r"--data pairs: row 1: its history is not a list of \{role, content\} turns"):
        to_conversations(ds, "pairs")


def test_chat_in_other_languages_is_kept_and_greetings_there_get_no_chain_of_thought(tmp_path):
    from generators.general import GeneralOptions, Prompter

    zh_reasoning = "347 = 3 个百 + 47。\n三百加四十七。\n\n**Final Answer**"
    rows = [_row("zh", "请把 347 写成中文。", "三百四十七", zh_reasoning, "三百四十七"),
            _row("ru", "Привет!", "Привет! Чем помочь?", "", "Привет! Чем помочь?", cot="none")]
    path = tmp_path / "in"
    path.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), path / "shard-000000.parquet")
    assert filter_verb.main(["--input", str(path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    assert _outcome(tmp_path / "out") == {"zh": None, "ru": None}
    rule = Prompter({}, GeneralOptions()).no_cot_rule
    assert [rule({"problem": t, "cot": None}) is not None for t in ("你好", "Привет!", "こんにちは", "请把 347 写成中文。")] == [
        True, True, True, False]
