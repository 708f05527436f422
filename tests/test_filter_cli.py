"""`python -m factory.filter` end to end: verdicts, funnel, timeouts, bad input."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory import filter as filter_cli
from filters.decontamination import benchmark_problems

PROSE = ("Okay, so I need to add 3 and 4.\n\nWe add the two numbers step by step, carrying where needed: "
         "3 + 4 = 7.\n\nWait, let me check the total against an estimate, so that no arithmetic slip survives "
         "into the final answer. 3 is about 3 and 4 is about 4, so about 7. Yes, 7.")


def row(rid, *, reasoning=PROSE, response="So the answer is $\\boxed{7}$.", answer="7", **kw):
    r = {"id": rid, "problem_id": kw.pop("problem_id", rid), "problem": kw.pop("problem", f"What is 3 + 4? ({rid})"),
         "answer": answer, "completion": f"<think>\n{reasoning}\n</think>\n\n{response}",
         "finish_reason": "stop", "source": kw.pop("source", "unit")}
    r.update(kw)
    return r


def corpus():
    math500 = benchmark_problems("math500")[1][3]
    return [
        (row("good1"), None),
        (row("good2", response="Thus $\\boxed{\\frac{14}{2}}$."), None),
        (row("trunc", finish_reason="length"), "truncated"),
        (row("open", completion="<think>\nnever closed"), "unclosed_think"),
        (row("wrong", response="$\\boxed{8}$"), "wrong_answer"),
        (row("noans", response="It is seven."), "no_answer"),
        (row("mixed", reasoning=PROSE + "\n\n所以 3 + 4 = 7."), "mixed_language"),
        (row("loop", reasoning="Wait, let me add them again. " * 300), "repetition"),
        (row("code", reasoning=PROSE + "```python\nprint(3 + 4)\n```"), "code_in_reasoning"),
        (row("contam", reasoning=PROSE + math500), "contaminated:math500"),
        (row("dup", problem_id="good1", problem="What is 3 + 4? (good1)"), "exact_duplicate"),
        (row("huge", reasoning="y" * 3_000_000), "too_long"),
        (row("null", completion=None), "no_completion"),
        (row("noref", answer=None), "no_reference"),
        (row("hang", answer="9^{9^{9^{9}}}", response="\\boxed{10}"), "verify_timeout"),
        (row("badref", answer="\\\\", response="\\boxed{3}"), "unparseable_answer"),
    ]


def _read(out, name):
    return pq.ParquetDataset(out / name).read().to_pylist() if (out / name).exists() else []


def test_every_row_gets_its_reason_and_nothing_is_lost(tmp_path, capsys):
    rows = corpus()
    src = write_jsonl(tmp_path / "in.jsonl", [r for r, _ in rows])
    cfg = tmp_path / "f.yaml"
    cfg.write_text((filter_cli.__file__ and open(
        __import__("filters.config", fromlist=["x"]).DEFAULT_CONFIG).read()).replace("verify_timeout: 5",
                                                                                    "verify_timeout: 2"))
    out = tmp_path / "out"
    code = filter_cli.main(["--input", str(src), "--out", str(out), "--config", str(cfg), "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    accepted, rejected = _read(out, "accepted"), _read(out, "rejected")
    got = {r["id"]: r["reject_reason"] for r in accepted + rejected}
    assert got == {r["id"]: reason for r, reason in rows}
    assert len(accepted) + len(rejected) == len(rows)
    assert all(r["reject_filter"] is None for r in accepted)
    filters = {r["id"]: r["reject_filter"] for r in rejected}
    assert filters["hang"] == "correctness" and filters["contam"] == "decontamination"
    assert filters["dup"] == "dedup" and filters["mixed"] == "language"
    assert set(accepted[0]) == set(rows[0][0]) | {"reject_reason", "reject_filter", "reject_detail"}  # all kept
    details = {r["id"]: json.loads(r["reject_detail"]) for r in rejected if r["reject_detail"]}
    assert details["contam"]["benchmark_id"] == "math500-3" and details["contam"]["where"] == "reasoning"
    assert details["mixed"]["first"] == "所 以" and details["code"]["context"].startswith("```python")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input_rows"] == len(rows) and stats["accepted"] == 2
    funnel = {s["filter"]: s for s in stats["funnel"]}
    assert funnel["format"]["rejected"] == 3 and funnel["format"]["reasons"]["truncated"] == 1
    assert funnel["correctness"]["reasons"] == {"wrong_answer": 1, "no_answer": 1, "no_reference": 1,
                                                "verify_timeout": 1, "unparseable_answer": 1}
    assert funnel["dedup"]["in"] == 3 and funnel["dedup"]["out"] == 2
    assert stats["by_source"]["unit"]["input"] == len(rows) and stats["by_domain"]["math"]["accepted"] == 2
    assert stats["decontamination"]["leaks"]["math500"] == {"rows": 1, "benchmark_problems": 1,
                                                            "where": {"reasoning": 1}}
    assert stats["yield"]["accepted"] == 2 and stats["yield"]["problems"] == len(rows) - 1  # dup shares good1's id
    assert (out / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert f"check: 2 accepted + {len(rows) - 2} rejected = {len(rows)} input rows" in printed
    assert "correctness" in printed and not (tmp_path / "out.partial").exists()


def test_generate_run_from_the_tiny_teacher_is_fully_accounted(tiny_model, engine_backend, tmp_path, capsys):
    from generators.config import GenerateConfig
    from generators.run import main as generate

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(6, source="fixture"))
    run_dir = tmp_path / "run"
    generate(GenerateConfig(problems=str(problems), teacher=str(tiny_model), out=run_dir, samples=3,
                            max_tokens=48, shard_rows=5), backend=engine_backend)
    out = tmp_path / "filtered"
    assert filter_cli.main(["--input", str(run_dir), "--out", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    accepted, rejected = _read(out, "accepted"), _read(out, "rejected")
    assert len(accepted) + len(rejected) == stats["input_rows"] == 18
    keys = {(r["problem_id"], r["sample"]) for r in accepted + rejected}
    assert len(keys) == 18
    assert all(r["reject_reason"] for r in rejected)
    assert stats["by_source"]["fixture"]["input"] == 18


def test_majority_vote_for_rows_without_reference(tmp_path):
    rows = [row(f"m{i}", problem_id="m", problem="Compute 3 + 4.", answer=None,
                reasoning=PROSE + f"\n\nVariant {i} of the check, written out in words number {i * 31}.",
                response=f"$\\boxed{{{ans}}}$") for i, ans in enumerate(["7", "7", "7", "8"])]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    cfg = tmp_path / "f.yaml"
    cfg.write_text("filters:\n  format: {}\n  correctness: {no_reference: majority}\n")
    assert filter_cli.main(["--input", str(src), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 0
    got = {r["id"]: r["reject_reason"] for r in _read(tmp_path / "o", "accepted") + _read(tmp_path / "o", "rejected")}
    assert got == {"m0": None, "m1": None, "m2": None, "m3": "wrong_answer"}


def test_column_mapping_for_public_trace_datasets(tmp_path):
    t = pa.table({"question": ["What is 3 + 4?"], "gold": [7],
                  "generation": [f"<think>\n{PROSE}\n</think>\n\\boxed{{7}}"]})
    pq.write_table(t, tmp_path / "pub.parquet")
    out = tmp_path / "o"
    assert filter_cli.main(["--input", str(tmp_path / "pub.parquet"), "--out", str(out), "--problem-column",
                            "question", "--answer-column", "gold", "--completion-column", "generation"]) == 0
    accepted = _read(out, "accepted")
    # the mapped answer column is text, whatever the source wrote (7 → "7")
    assert len(accepted) == 1 and accepted[0]["gold"] == "7" and accepted[0]["question"] == "What is 3 + 4?"


@pytest.mark.parametrize("setup, message", [
    (lambda p: write_jsonl(p / "in.jsonl", [{"question": "q", "text": "t"}]),
     r"missing column\(s\) --problem-column problem, --completion-column completion; available: question, text"),
    (lambda p: (p / "in.jsonl").write_text("") and None, "the input is empty"),
    (lambda p: (p / "in.jsonl").write_text('{"problem": "q", "completion": "c"}\n{"problem": \n') and None,
     r"in.jsonl:2: malformed JSON"),
    (lambda p: p / "missing.jsonl", "no such file"),
    (lambda p: "nobody/no-such-traces", r"could not load Hub dataset 'nobody/no-such-traces'"),
])
def test_bad_input_exits_2_with_a_clear_message(setup, message, tmp_path, capsys):
    src = setup(tmp_path) or tmp_path / "in.jsonl"
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 2
    import re
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_existing_output_is_not_overwritten_without_the_flag(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [row("a")])
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert filter_cli.main(["--input", str(src), "--out", str(out), "--overwrite"]) == 0
    assert len(_read(out, "accepted")) == 1


def test_code_traces_go_to_the_sandbox_and_maths_to_math_verify(tmp_path):
    code_ok = "```python\nprint(sum(map(int, input().split())))\n```"
    code_bad = "```python\nprint(0)\n```"
    tests = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]
    rows = [row("c-ok", domain="code", problem="Add two numbers from stdin.", answer=None, tests=tests,
                response=code_ok),
            row("c-bad", domain="code", problem="Add two numbers from stdin, again.", answer=None, tests=tests,
                response=code_bad),
            row("m-ok"), row("m-bad", response="$\\boxed{9}$")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    got = {r["id"]: (r["reject_reason"], r["reject_filter"]) for r in _read(out, "accepted") + _read(out, "rejected")}
    assert got == {"c-ok": (None, None), "c-bad": ("failed_test_0", "code_tests"),
                   "m-ok": (None, None), "m-bad": ("wrong_answer", "correctness")}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["code_sandbox"].startswith("bubblewrap")
    assert stats["by_domain"]["code"] == {"input": 2, "accepted": 1, "code_tests": 1}


def test_answers_of_mixed_types_in_jsonl_are_read_as_written(tmp_path):
    """A JSONL answer field with numbers and LaTeX text is read by Arrow as JSON texts;
    the filter must compare the values, not '"\\\\frac{1}{2}"' with its quotes."""
    rows = [row("num", answer=7), row("float", answer=7.0),
            row("latex", problem="Half of one?", answer="\\frac{1}{2}", response="$\\boxed{\\frac{1}{2}}$"),
            row("lead0", problem="AIME style", answer="025", response="$\\boxed{25}$"),
            row("money", problem="Price?", answer="\\$36", response="$\\boxed{36}$")]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    got = {r["id"]: r["reject_reason"] for r in _read(out, "accepted") + _read(out, "rejected")}
    assert got == {"num": None, "float": None, "latex": None, "lead0": None, "money": None}


def test_shards_of_mixed_type_jsonl_hold_plain_strings_as_written(tmp_path, capsys):
    """Arrow reads a JSONL field that mixes types as its JSON type ('"\\\\frac{14}{2}"', quotes kept);
    the accepted and rejected shards must hold the values as the file wrote them, as strings, and
    the output must publish (its round-trip check compares the shards with what the Hub loader reads)."""
    from factory import publish

    rows = [row("num", answer=7), row("half", answer=0.5, response="$\\boxed{0.5}$"),
            row("latex", answer="\\frac{14}{2}", response="$\\boxed{\\frac{14}{2}}$"),
            row("lead0", problem="AIME style", answer="025", response="$\\boxed{25}$"),
            row("wrong", answer="\\frac{1}{2}", response="$\\boxed{9}$"),
            row("empty", completion=None), row("odd", completion=12)]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0, capsys.readouterr().err
    for name in ("accepted", "rejected"):
        schema = pq.read_schema(next((out / name).glob("*.parquet")))
        assert schema.field("answer").type == pa.string() and schema.field("completion").type == pa.string()
        assert schema.field("problem").type == pa.string() and schema.field("id").type == pa.string()
    got = {r["id"]: r for r in _read(out, "accepted") + _read(out, "rejected")}
    assert {k: r["answer"] for k, r in got.items()} == {
        "num": "7", "half": "0.5", "latex": "\\frac{14}{2}", "lead0": "025", "wrong": "\\frac{1}{2}",
        "empty": "7", "odd": "7"}
    assert got["latex"]["completion"].startswith("<think>\n") and got["empty"]["completion"] is None
    assert got["odd"]["completion"] == "12"
    assert {k: r["reject_reason"] for k, r in got.items() if r["reject_reason"]} == {
        "wrong": "wrong_answer", "empty": "no_completion", "odd": "unclosed_think"}
    assert publish.main(["--data", str(out), "--repo-id", "me/mixed", "--dry-run", "--stage", str(tmp_path / "st"),
                         "--with-rejected"]) == 0, capsys.readouterr().err
    assert "load_dataset round-trip ok" in capsys.readouterr().out


def test_a_corrupt_parquet_page_exits_2_naming_file_and_row_group(tmp_path, capsys):
    from test_inputs import corrupt_parquet

    src = tmp_path / "in"
    src.mkdir()
    corrupt_parquet(src / "t.parquet")
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "t.parquet: corrupt Parquet data (row group 0, rows 1-1000): " in errors[0]
    assert "Traceback" not in err and not out.exists()


def test_gzipped_traces_beside_plain_ones_are_all_filtered(tmp_path):
    import gzip

    src = tmp_path / "in"
    write_jsonl(src / "a.jsonl", [row("a1"), row("a2")])
    with gzip.open(src / "b.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in [row("b1"), row("b2", response="$\\boxed{8}$")])
    (src / "c.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 2  # refused, not skipped
    (src / "c.jsonl.zst").unlink()
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    got = {r["id"]: r["reject_reason"] for r in _read(out, "accepted") + _read(out, "rejected")}
    assert got == {"a1": None, "a2": None, "b1": None, "b2": "wrong_answer"}
