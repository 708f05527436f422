"""The miniature lab: its problems and traces, the verbs' embedded defaults, and
a short run of the whole demo loop on the bundled teacher (real vLLM, real
filters, real TRL) whose failure rates must stay within bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from factory import lab
from factory.core.errors import InputError
from factory.lab import tasks


def _filter(tmp_path: Path, rows: list[dict]):
    from filters.chain import FilterRunConfig, run

    out = tmp_path / "filtered"
    run(FilterRunConfig(input=str(write_jsonl(tmp_path / "traces.jsonl", rows)), out=out, workers=1))
    verdicts = {}
    for kind in ("accepted", "rejected"):
        for f in sorted((out / kind).glob("*.parquet")):
            for r in pq.read_table(f).to_pylist():
                verdicts[r["problem_id"]] = r.get("reject_filter") or "accepted"
    return verdicts


def test_each_flaw_is_caught_by_its_filter_and_clean_traces_pass(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lab.TEACHER)
    rows, expected = [], {}
    for i, p in enumerate(tasks.make_problems(60, seed=5, prefix="t")):
        flaw = [None, "wrong", "drift", "loop", "code"][i % 5]
        reasoning, response = tasks.trace(p, flaw)
        finish = "stop"
        if response is None:  # a loop has no end: it runs until the lab's context cuts it
            reasoning = tok.decode(tok(reasoning)["input_ids"][:lab.MAX_TOKENS])
            finish = "length"
        rows.append({"problem_id": p.id, "problem": p.problem, "answer": p.answer, "finish_reason": finish,
                     "completion": "<think>\n" + tasks.completion(reasoning, response)})
        expected[p.id] = {None: "accepted", "wrong": "correctness", "drift": "language", "loop": "format",
                          "code": "readability"}[flaw]
    assert _filter(tmp_path, rows) == expected


def test_each_flaw_is_one_decision_after_the_first_column():
    """Every flaw branches off the clean trace at one fixed point, so a teacher learns
    each as one token choice: the slip in the first column's line, the others just after it."""
    for p in tasks.make_problems(90, seed=4, prefix="d"):
        clean = tasks.trace(p, None)[0].split("\n")
        d = tasks.first_column(clean) + 1
        for flaw in tasks.FLAWS:
            lines = tasks.trace(p, flaw)[0].split("\n")
            first_diff = next(i for i, (a, b) in enumerate(zip(clean, lines)) if a != b)
            assert first_diff == (d - 1 if flaw == "wrong" else d), (p.id, flaw)
        assert tasks.trace(p, "loop")[1] is None and tasks.trace(p, "drift")[0].split("\n")[d].startswith(
            tasks.DRIFT_LEAD)


def test_wrong_traces_reach_a_wrong_answer_and_clean_ones_the_right_one():
    for p in tasks.make_problems(300, seed=3):
        assert tasks.trace(p, None)[1] == f"The answer is \\boxed{{{p.answer}}}."
        assert tasks.trace(p, "wrong")[1] != f"The answer is \\boxed{{{p.answer}}}."
        assert int(p.answer) == (sum(p.operands) if p.family != "equation" else p.operands[1] - p.operands[0])


def test_shipped_problem_sets_are_the_generator_s_and_only_planted_copies_leak(tmp_path):
    bundled, held_out = tasks.problem_sets()
    read = lambda path: [json.loads(line) for line in path.open(encoding="utf-8")]  # noqa: E731
    assert read(lab.PROBLEMS) == bundled and read(lab.HELD_OUT) == held_out
    planted = {r["id"] for r in bundled if r["id"].startswith("lab-test")}
    assert len(planted) == 12 and len({r["problem"] for r in bundled}) == len(bundled)
    # decontamination against the shipped `lab` benchmark flags exactly the planted copies
    from filters.decontamination import DecontaminationFilter

    f = DecontaminationFilter(benchmarks=["lab"])
    flagged = {r["id"] for r in bundled if f.reject({"problem": r["problem"], "reasoning": "", "response": ""})}
    assert flagged == planted


def test_the_verbs_default_to_the_lab_and_chain():
    from factory import evaluate, filter, generate, publish, train_student

    g, f, t, e = (verb.parse([]) for verb in (generate, filter, train_student, evaluate))
    p = publish.parse(["--dry-run"])
    assert (g.teacher, g.problems) == (str(lab.TEACHER), str(lab.PROBLEMS))
    # the lab's run is sampled at the lab's context: by hand, the demo's run resumes instead of being refused
    assert g.max_tokens == lab.MAX_TOKENS and generate.parse(["--teacher", "x/y"]).max_tokens == 32768
    assert g.tokenizer is None and e.tokenizer is None  # every model folder serves its own tokenizer
    assert (lab.TEACHER / "model.safetensors").is_file() and lab.PROBLEMS.is_file()
    assert Path(f.input) == g.out and Path(t.data) == f.out and t.size == "tiny"
    assert Path(e.model) == t.out / "model" and e.benchmarks == ["lab"] and e.out is not None
    assert p.data == f.out and p.stage == lab.STAGE
    with pytest.raises(InputError, match="--repo-id USER/NAME is required"):  # uploading needs a real repo
        publish.parse([])


def test_short_demo_loop_with_the_bundled_teacher(tmp_path, capsys):
    """generate → teacher eval → filter → stage → two students → eval → summary,
    at a tenth of the demo's size. The teacher samples on a fixed seed, so its
    failure rates are checked within bounds around those measured here."""
    from factory.lab.demo import main

    run = tmp_path / "lab"
    assert main(["--run", str(run), "--problems", "150", "--samples", "2", "--eval-problems", "40",
                 "--eval-samples", "2", "--student-steps", "12", "--general-problems", "60"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert (run / "summary.png").stat().st_size > 10_000
    assert (run / "hub" / "README.md").is_file() and list((run / "hub" / "data").glob("*.parquet"))
    assert "| teacher |" in printed and "| student (filtered) |" in printed

    funnel = summary["funnel"]
    flaws = {f: n / funnel["input"] for f, n in funnel["flaws"].items()}
    assert funnel["input"] == 300
    # Bounds around the flaw rates the full demo measures (bench/README.md, "The demo's results"),
    # on this fixed seed:
    assert flaws["wrong"] <= 0.08, flaws
    for flaw in ("mixed_language", "loop_truncated", "code"):
        assert 0.03 <= flaws[flaw] <= 0.18, flaws
    assert funnel["flaws"]["leak"] == 2  # one planted copy in the first 150, 2 samples
    assert 0.3 <= funnel["accepted"] / funnel["input"] <= 0.75
    stats = json.loads((run / "filter" / "stats.json").read_text())
    assert stats["flaws"] == funnel["flaws"] and "loops, or cut at the context (loop_truncated)" in printed
    # the lab's run as a pilot of R1's 800k: every trace it generated and accepted, and the device time it held
    assert "plan for 800,000 accepted traces, from a pilot of 150 problems (300 traces)" in printed
    assert stats["cost"]["device_time_known"] and "cpu-hours" in printed

    models = {m["model"]: m for m in summary["models"]}
    assert set(models) == {"teacher", "student (filtered)", "student (unfiltered)"}
    teacher = models["teacher"]
    assert 0.6 <= teacher["pass@1"] <= 0.97, teacher
    assert teacher["flaws"]["any"] >= 0.08 and teacher["flaws"]["clean_pass@1"] >= 0.85, teacher["flaws"]
    assert models["student (filtered)"]["trained_on_rows"] < models["student (unfiltered)"]["trained_on_rows"]
    assert [c["claim"] for c in summary["claims"]][0] == "less accurate (pass@1)" and "R1's claim" in printed

    # R1's other 200k in miniature: the general chat rows (one sample each), filtered, mixed into what the student learns
    general = summary["general_funnel"]
    assert general["input"] == 60 and 0 < general["accepted"] < general["input"]
    built = json.loads((run / "mixture" / "mixture.json").read_text())
    taken = {s["id"]: s["rows_taken"] for s in built["sources"]}
    maths, chat = taken[str(run / "filter")], taken[str(run / "filter-general")]
    assert maths == funnel["accepted"] and 0 < chat <= general["accepted"]   # every reasoning trace…
    assert chat / (maths + chat) <= 0.25                                   # …and at most R1's share of chat
    assert models["student (filtered)"]["trained_on_rows"] <= sum(taken.values())
    assert "## Mixture" in (run / "hub" / "README.md").read_text()
    assert teacher["general"] is None   # it explains a reply it is shown; the students answer alone
    for m in (models["student (filtered)"], models["student (unfiltered)"]):
        assert m["general"]["problems"] == 40 and 0 <= m["general"]["pass@1"] <= 1
    assert "general chat traces: 60 →" in printed


def test_the_r1_claim_holds_only_beyond_two_standard_errors():
    from factory.lab.demo import claims

    def student(name, p1, se, mixed, loops, samples=1200):
        flaws = {"mixed_language": mixed, "loop_truncated": loops, "code": 0.0}
        return {"model": f"student ({name})", "pass@1": p1, "pass@1_se": se, "flaws": flaws, "samples": samples}

    got = {c["claim"]: c for c in claims([student("filtered", 0.20, 0.015, 0.01, 0.02),
                                          student("unfiltered", 0.17, 0.015, 0.08, 0.025)])}
    assert got["less accurate (pass@1)"]["holds"] is False  # 3.0 points against 2 x 2.1
    assert got["mixes languages more"]["holds"] is True and got["loops / is cut more"]["holds"] is False
    assert got["writes code in its reasoning more"]["holds"] is False  # 0 vs 0
    assert got["mixes languages more"]["se"] == pytest.approx((0.01 * 0.99 / 1200 + 0.08 * 0.92 / 1200) ** 0.5)
    assert claims([student("filtered", 0.2, 0.01, 0, 0)]) == []
