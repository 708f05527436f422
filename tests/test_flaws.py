"""Flaws (filters/flaws.py): the funnel by flaw in the printed table, stats.json and
the card; and the flaws in a model's own outputs, judged on traces shaped like a
real teacher's (r1_traces.py), as `factory.evaluate` reports them."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from filters.flaws import FLAWS, OutputFlaws, category, output_flaw_rates
from r1_traces import CLEAN, FLAWS as R1_FLAWS, flawed, row

# r1_traces' flaws → the flaw each stands for, in a model's own output (None: needs a reference)
OUTPUT = {"wrong_answer": None, "no_box": None, "drift_connective": "mixed_language",
          "drift_sentence": "mixed_language", "loop_sentence": "loop_truncated", "loop_block": "loop_truncated",
          "loop_to_context": "loop_truncated", "code_block": "code", "corrupt_escape": "malformed"}
# flaws that insert English text (into the Chinese trace too)
ENGLISH_INSERTS = {"loop_sentence", "loop_block", "loop_to_context", "code_block"}


def test_every_reason_of_the_shipped_filters_has_its_flaw():
    expected = {"wrong_answer": "wrong", "no_box": "wrong", "drift_connective": "mixed_language",
                "drift_sentence": "mixed_language", "loop_sentence": "loop_truncated", "loop_block": "loop_truncated",
                "loop_to_context": "loop_truncated", "code_block": "code", "corrupt_escape": "malformed"}
    assert {f: category(*R1_FLAWS[f]) for f in R1_FLAWS} == expected
    assert category("decontamination", "contaminated:math500") == "leak"
    assert category("dedup", "duplicate_problem") == category("dedup", "exact_duplicate") == "duplicate"
    assert category("format", "unclosed_think") == category("readability", "long_paragraph") == "malformed"
    assert category("code_tests", "failed_tests") == "wrong" and category("my_plugin", "odd") == "other"


@pytest.mark.parametrize("t", CLEAN, ids=[t["id"] for t in CLEAN])
def test_clean_real_shapes_show_no_output_flaw(t):
    assert OutputFlaws().of(row(t)) == set()


@pytest.mark.parametrize("flaw", list(OUTPUT))
def test_each_real_shaped_flaw_is_the_output_flaw_it_stands_for(flaw):
    judge = OutputFlaws()
    for t in CLEAN:
        got = judge.of(flawed(t, flaw))
        expected = {OUTPUT[flaw]} if OUTPUT[flaw] else set()
        if t["id"] == "zh-1" and flaw in ENGLISH_INSERTS:  # an English line in Chinese reasoning mixes too
            expected.add("mixed_language")
        assert got == expected, (t["id"], flaw, got)


def test_a_cut_loop_that_also_mixes_languages_has_both_flaws():
    t = flawed(CLEAN[0], "loop_to_context")
    t["reasoning"] += "\n\n所以我们再算一次。"
    assert OutputFlaws().of(t) == {"loop_truncated", "mixed_language"}


def test_output_flaw_rates_count_samples_and_score_the_clean_ones():
    rows = [row(CLEAN[0], completion_tokens=100), row(CLEAN[1], completion_tokens=300),
            {**flawed(CLEAN[2], "drift_sentence"), "completion_tokens": 200},
            {**flawed(CLEAN[3], "loop_to_context"), "completion_tokens": 1000}]
    rates = output_flaw_rates(rows, [True, False, True, False])
    assert rates == {"mixed_language": 0.25, "loop_truncated": 0.25, "code": 0.0, "malformed": 0.0,
                     "wrong_answer": 0.25, "any": 0.5,
                     "clean_samples": 2, "clean_pass@1": 0.5, "mean_completion_tokens": 400.0}


def test_the_filter_run_reports_its_rejections_by_flaw(tmp_path, capsys):
    """Printed table, stats.json and the dataset card all carry the funnel by flaw."""
    from factory import filter as filter_cli
    from factory.hub.card import _flaws_lines

    rows = [row(t) for t in CLEAN] + [row(CLEAN[0], sample=1)]  # an exact duplicate
    for i, f in enumerate(R1_FLAWS):
        rows.append(flawed(CLEAN[i % len(CLEAN)], f) | {"sample": 2 + i})
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--out", str(out),
                            "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["flaws"] == {"wrong": 2, "mixed_language": 2, "loop_truncated": 3, "code": 1, "leak": 0,
                              "duplicate": 1, "malformed": 1}
    assert sum(stats["flaws"].values()) == stats["rejected"]
    assert "loops, or cut at the context (loop_truncated)" in printed
    assert list(stats["flaws"]) == [f for f in FLAWS if f not in ("out_of_band", "other")]  # those two when any
    card = "\n".join(_flaws_lines(stats))
    n = stats["input_rows"]
    assert f"| reasoning mixes languages (`mixed_language`) | 2 | {100 * 2 / n:.1f}% |" in card


def test_evaluation_reports_the_flaws_of_the_model_s_samples(tmp_path):
    from factory.evaluation import grade_and_score

    rows = [row(CLEAN[1], sample=0), flawed(CLEAN[1], "drift_sentence") | {"sample": 1},
            flawed(CLEAN[1], "loop_to_context") | {"sample": 2}, flawed(CLEAN[1], "code_block") | {"sample": 3}]
    for i, r in enumerate(rows):
        r["completion_tokens"] = 100 * (i + 1)
    (tmp_path / "samples" / "traces").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "samples" / "traces" / "shard-000000.parquet")
    (tmp_path / "samples" / "manifest.json").write_text("{}")
    s = grade_and_score(tmp_path / "samples", tmp_path / "graded")
    assert s["pass@1"] == 0.75  # the loop has no answer; drift and code reach the right one
    assert s["flaws"] == {"mixed_language": 0.25, "loop_truncated": 0.25, "code": 0.25, "malformed": 0.0,
                          "wrong_answer": 0.0, "any": 0.75, "clean_samples": 1, "clean_pass@1": 1.0, "mean_completion_tokens": 250.0}
