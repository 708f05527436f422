"""R1's whole table: GPQA Diamond (options shuffled per sample, letters graded) and LiveCodeBench
(programs run against public and hidden tests in the sandbox) beside the maths, the loaders on
files in their real columns and on the loopback Hub, and the paper's figures beside the scores."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from factory import evaluate as evaluate_cli
from factory.core.errors import InputError
from factory.core.layout import BENCHMARKS_DIR
from factory.evaluation import benchmarks, gpqa, livecodebench, paper
from factory.evaluation.report import markdown
from factory.evaluation.run import EvaluateConfig, evaluate
from factory.evaluation.scoring import grade_and_score
from lcb_solutions import HOSTILE, SOLUTIONS, TIMEOUT
from test_hub_download import TOKEN, hub  # noqa: F401  (the loopback Hub fixture)

GPQA = benchmarks.resolve("gpqa_diamond_sample")
LCB = benchmarks.resolve("livecodebench_sample")


# --- GPQA: shuffling reproducible from the seed ---

def test_gpqa_options_are_shuffled_per_sample_reproducibly_from_the_seed():
    rows = gpqa.load(GPQA, samples=4, seed=0)
    assert GPQA.kind == "choice" and len(rows) == 8 * 4
    source = {json.loads(line)["Record ID"]: json.loads(line) for line in open(GPQA.source)}
    for row in rows:
        shown = json.loads(row["choices"])
        correct = source[row["item_id"]]["Correct Answer"]
        assert shown["ABCD".index(row["answer"])] == correct          # the letter points at the right option
        assert f"{row['answer']}) {correct}" in row["problem"]
        assert row["permutation"] == gpqa.permutation(0, row["item_id"], int(row["id"].split("#")[1]))
    orders = {tuple(r["permutation"]) for r in rows}
    assert len(orders) > 4                                             # not one order for every showing
    assert len({r["answer"] for r in rows}) == 4                       # the right answer lands on every letter
    assert gpqa.load(GPQA, samples=4, seed=0) == rows                  # same seed, same rows
    assert gpqa.load(GPQA, samples=4, seed=1) != rows
    assert gpqa.load(GPQA, samples=4, seed=0, limit=3) == rows[:12]    # --limit does not move the orders


def test_gpqa_reads_its_hub_csv_layout_in_any_order(tmp_path):
    import csv

    records = [json.loads(line) for line in open(GPQA.source)][:3]
    records[0]["Question"] = "A question\nover two lines, with \"quotes\", commas"
    path = tmp_path / "gpqa_diamond.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]) + ["Explanation"])
        writer.writeheader()
        for r in reversed(records):
            writer.writerow({**r, "Explanation": "long\ntext"})
    bench = benchmarks.resolve(str(path))
    assert bench.kind == "choice"
    from_csv = {r["id"]: r for r in gpqa.load(bench, samples=2, seed=0)}
    assert from_csv["fxq01#1"]["problem"].startswith("A question\nover two lines")
    assert from_csv["fxq02#0"]["permutation"] == gpqa.load(GPQA, samples=2, seed=0)[2]["permutation"]


@pytest.mark.parametrize("drop", ["Incorrect Answer 3", "Question"])
def test_a_gpqa_file_without_its_columns_is_one_line_exit_2_nothing_written(tmp_path, capsys, drop):
    records = [json.loads(line) for line in open(GPQA.source)][:2]
    bad = tmp_path / "mine.jsonl"
    bad.write_text("".join(json.dumps({k: v for k, v in r.items() if k != drop}) + "\n" for r in records))
    out = tmp_path / "eval"
    code = evaluate_cli.main(["--model", str(tmp_path), "--benchmarks", f"gpqa_diamond={bad}", "--out", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1 and f"{bad}:1:" in err[0] and drop in err[0] and "missing" in err[0]
    assert not out.exists()


def test_a_livecodebench_file_without_its_tests_column_is_exit_2(tmp_path, capsys):
    record = json.loads(open(LCB.source).readline())
    del record["public_test_cases"]
    bad = tmp_path / "lcb.jsonl"
    bad.write_text(json.dumps(record) + "\n")
    code = evaluate_cli.main(["--model", str(tmp_path), "--benchmarks", f"livecodebench={bad}", "--out",
                              str(tmp_path / "o"), "--code-window", "all"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(err) == 1 and f"{bad}:1:" in err[0] and "public_test_cases" in err[0]
    assert not (tmp_path / "o").exists()


# --- LiveCodeBench: releases, the window, the hidden tests ---

def test_release_tags_and_windows():
    assert livecodebench.release_files("release_v1") == ["test.jsonl"]
    assert livecodebench.release_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert livecodebench.release_files("v5") == ["test5.jsonl"]
    assert livecodebench.release_files("v4_v6") == ["test4.jsonl", "test5.jsonl", "test6.jsonl"]
    for bad in ("release_v9", "v6_v4", "latest", "v0"):
        with pytest.raises(ValueError):
            livecodebench.release_files(bad)
    for bad in ("2024-08-01", "2025-01-01..2024-08-01", "aug..dec"):
        with pytest.raises(ValueError):
            livecodebench.parse_window(bad)


def test_livecodebench_rows_keep_the_window_and_unpack_the_hidden_tests():
    rows = {r["id"]: r for r in livecodebench.load(LCB)}
    assert LCB.kind == "code" and "fx007" not in rows and len(rows) == 6   # fx007 is from May 2024
    assert len(livecodebench.load(LCB, window="all")) == 7
    assert [r["id"] for r in livecodebench.load(LCB, window="2024-09-01..2024-11-30")] == ["fx002", "fx004", "fx006"]
    raw = {json.loads(line)["question_id"]: json.loads(line) for line in open(LCB.source)}
    for pid, row in rows.items():
        tests = json.loads(row["tests"])
        public = json.loads(raw[pid]["public_test_cases"])
        assert tests[:len(public)] == public and len(tests) > len(public)   # public, then the hidden ones
        assert row["problem"].startswith("### Question:\n" + raw[pid]["question_content"])
    assert rows["fx004"]["func_name"] == "countPairs" and "def countPairs" in rows["fx004"]["problem"]
    assert rows["fx001"]["func_name"] is None and "# YOUR CODE HERE" in rows["fx001"]["problem"]


def test_a_pickle_that_names_a_function_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    record = json.loads(open(LCB.source).readline())
    record["private_test_cases"] = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    bad = tmp_path / "lcb.jsonl"
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError, match=r"lcb.jsonl:1: private_test_cases is neither JSON.*refusing"):
        livecodebench.load(benchmarks.resolve(f"livecodebench={bad}"))
    assert not marker.exists()


# --- grading: letters and programs, through the evaluation's graders ---

def _samples_dir(path, rows):
    (path / "traces").mkdir(parents=True)
    full = [{"sample": 0, "finish_reason": "stop", "completion_tokens": 10, **r,
             "completion": f"<think>\n{r['reasoning']}\n</think>\n\n{r['response']}"} for r in rows]
    pq.write_table(pa.Table.from_pylist(full), path / "traces" / "shard-000000.parquet")
    (path / "manifest.json").write_text("{}")
    return path


def test_choice_samples_are_graded_by_letter_and_vote_on_the_option(tmp_path):
    rows = [r for r in gpqa.load(GPQA, samples=3, seed=0) if r["item_id"] in ("fxq01", "fxq02")]
    right = {r["id"]: r["answer"] for r in rows}
    wrong = {r["id"]: "ABCD"[("ABCD".index(r["answer"]) + 1) % 4] for r in rows}
    responses = {
        "fxq01#0": f"Energy: h = v^2/2g.\n\nAnswer: {right['fxq01#0']}",
        # boxed a wrong letter, changed its mind: the last statement counts
        "fxq01#1": f"So \\boxed{{{wrong['fxq01#1']}}}. Wait, that used g = 4.9.\n\n**Answer: {right['fxq01#1']}**",
        "fxq01#2": f"The answer is ({wrong['fxq01#2']}).",
        "fxq02#0": f"**Final Answer**\n\\[\\boxed{{{right['fxq02#0']}}}\\]",
        "fxq02#1": "I cannot decide.",
        "fxq02#2": f"答案：{right['fxq02#2']}",
    }
    samples = _samples_dir(tmp_path / "samples", [
        {**r, "problem_id": r["id"], "reasoning": "Let me think.", "response": responses[r["id"]]} for r in rows])
    s = grade_and_score(samples, tmp_path / "graded")
    assert s["verdicts"] == {"correct": 4, "wrong_answer": 1, "no_answer": 1}
    assert (s["problems"], s["samples"]) == (2, 6)
    assert s["pass@1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert s["cons@k"] == 1.0   # the same option under different letters is one vote


def _program(code):
    return f"Here is my solution.\n\n```python\n{code}```\n"


def test_a_correct_a_wrong_a_timing_out_and_a_hostile_program(tmp_path):
    rows = {r["id"]: r for r in livecodebench.load(LCB)}
    programs = {"correct": SOLUTIONS["fx005"]["correct"], "wrong": SOLUTIONS["fx005"]["wrong"],
                "timeout": TIMEOUT, "hostile": HOSTILE, "stdin": SOLUTIONS["fx002"]["correct"].replace(
                    "print(f'{sum(a) / n:.6f}')", "print(sum(a) / n)")}   # 2.5 for 2.500000: equal as decimals
    samples = []
    for i, (name, code) in enumerate(programs.items()):
        base = rows["fx002" if name == "stdin" else "fx005"]
        samples.append({**base, "problem_id": base["id"], "sample": i, "reasoning": "Sort the squares.",
                        "response": _program(code), "tag": name})
    graded = grade_and_score(_samples_dir(tmp_path / "samples", samples), tmp_path / "graded", kind="code")
    verdicts = {r["tag"]: r["reject_reason"] for part in ("accepted", "rejected")
                for r in pq.ParquetDataset(tmp_path / "graded" / part).read().to_pylist()}
    assert verdicts["correct"] is None and verdicts["stdin"] is None
    assert verdicts["wrong"].startswith("failed_test_") and verdicts["timeout"] == "timeout"
    assert verdicts["hostile"] is not None
    assert graded["cons@k"] is None and graded["samples"] == 5


def test_every_reference_program_passes_its_fixture_and_every_wrong_one_fails():
    from filters.code import CodeTestsFilter

    grader = CodeTestsFilter(max_tests=0)
    for row in livecodebench.load(LCB, window="all"):
        programs = SOLUTIONS[row["id"]]
        assert grader.reject({**row, "response": _program(programs["correct"])}) is None, row["id"]
        assert grader.reject({**row, "response": _program(programs["wrong"])}) is not None, row["id"]


# --- the loopback Hub: LiveCodeBench's release files, GPQA's gate ---

def test_livecodebench_release_files_come_from_the_hub(hub):  # noqa: F811
    store, _ = hub
    lines = open(LCB.source).read().splitlines(keepends=True)
    store.put_file("dataset", livecodebench.HUB_REPO, "test.jsonl", "".join(lines[:4]))
    store.put_file("dataset", livecodebench.HUB_REPO, "test2.jsonl", "".join(lines[4:]))
    bench = benchmarks.resolve("livecodebench")
    assert bench.hub and bench.kind == "code"
    assert [r["id"] for r in livecodebench.load(bench, release="release_v1", window="all")] == \
        ["fx001", "fx002", "fx003", "fx004"]
    assert len(livecodebench.load(bench, release="release_v2", window="all")) == 7
    assert [r["id"] for r in livecodebench.load(bench, release="v2")] == ["fx005", "fx006"]


def test_gated_gpqa_says_how_to_get_access_then_loads(hub, tmp_path, capsys, monkeypatch):  # noqa: F811
    store, _ = hub
    store.put_file("dataset", gpqa.HUB_REPO, gpqa.HUB_FILE, _csv_text())
    store.gated.add(gpqa.HUB_REPO)
    out = tmp_path / "eval"
    argv = ["--model", str(tmp_path), "--benchmarks", "gpqa_diamond", "--out", str(out)]
    assert evaluate_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "gated" in err and "hf auth login" in err and "gpqa_diamond=" in err and not out.exists()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(InputError, match="gated"):   # logged in, terms not accepted
        gpqa.load(benchmarks.resolve("gpqa_diamond"), samples=1)
    store.granted.add(TOKEN)
    rows = gpqa.load(benchmarks.resolve("gpqa_diamond"), samples=2)
    assert len(rows) == 16 and rows == gpqa.load(GPQA, samples=2)


def test_an_unreachable_hub_says_so_not_that_the_file_is_missing(hub, tmp_path, capsys, monkeypatch):  # noqa: F811
    """Offline and not cached, huggingface_hub raises LocalEntryNotFoundError, a subclass of
    EntryNotFoundError: it read "the Hub dataset has no file test.jsonl", hiding the network."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "eval"
    assert evaluate_cli.main(["--model", str(tmp_path), "--benchmarks", "livecodebench", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "could not reach the Hub for test.jsonl" in err and "not in the local cache" in err
    assert "livecodebench=" in err and "has no file" not in err and not out.exists()


def _csv_text() -> str:
    import csv
    import io

    records = [json.loads(line) for line in open(GPQA.source)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


# --- the paper's figures ---

def test_the_paper_model_is_found_from_the_student_or_named(tmp_path):
    figures = paper.figures()["models"]
    assert len(figures) == 6 and all(m["base"] for m in figures.values())
    student = tmp_path / "student"
    student.mkdir()
    (student / "factory_student.json").write_text(json.dumps({"size": "7b", "base": "Qwen/Qwen2.5-Math-7B"}))
    assert paper.match("auto", str(student)) == "DeepSeek-R1-Distill-Qwen-7B"
    (student / "factory_student.json").write_text(json.dumps({"size": "tiny", "base": "tiny"}))
    assert paper.match("auto", str(student)) is None
    assert paper.match("auto", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B") == "DeepSeek-R1-Distill-Llama-70B"
    assert paper.match("meta-llama/Llama-3.1-8B", "x") == "DeepSeek-R1-Distill-Llama-8B"
    assert paper.match("none", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B") is None
    with pytest.raises(ValueError, match="--paper '9b'"):
        paper.match("9b", "x")
    # every recipe's base is a paper model's base: a trained student always finds its row
    import yaml
    from conftest import ROOT
    for recipe in (ROOT / "students" / "recipes").glob("*.yaml"):
        if recipe.stem != "tiny":
            assert paper.find(yaml.safe_load(recipe.read_text())["model"]) == paper.find(recipe.stem)


def test_results_md_puts_the_paper_beside_the_measured_scores():
    theirs = paper.figures()["models"]["DeepSeek-R1-Distill-Qwen-7B"]["scores"]
    near, far = theirs["math500"]["pass@1"] / 100, theirs["gpqa_diamond"]["pass@1"] / 100 - 0.2
    results = {"model": "mine", "paper": paper.comparison("DeepSeek-R1-Distill-Qwen-7B"), "benchmarks": {
        "math500": {"k": 4, "pass@1": near + 0.01, "pass@1_se": 0.01, "cons@k": 0.9},
        "gpqa_diamond": {"k": 4, "pass@1": far, "pass@1_se": 0.03, "cons@k": 0.4},
        "livecodebench": {"k": 4, "pass@1": 0.2, "pass@1_se": 0.02, "cons@k": None},
        "lab": {"k": 4, "pass@1": 0.5, "pass@1_se": 0.1, "cons@k": 0.5}}}
    md = markdown([results])
    assert "Against the R1 paper (DeepSeek-R1-Distill-Qwen-7B" in md and "arXiv:2501.12948" in md
    assert f"| MATH-500 | mine | {100 * near + 1:.1f} ± 1.0 (k=4) | {theirs['math500']['pass@1']:.1f} | matches (+1.0 SE) |" in md
    assert "| GPQA Diamond | mine |" in md and "below (-6.7 SE)" in md
    assert "| livecodebench | 4 | 20.0 ± 2.0 | - |" in md          # no cons@k for programs
    assert f"rating {theirs['codeforces']['rating']}" in md and "| lab | mine" not in md
    assert "mine differs: k=4." in md   # the paper sampled 64


def test_bad_paper_window_and_release_flags_are_exit_2(tmp_path, capsys):
    for flag, value, says in (("--paper", "9b", "--paper"), ("--code-window", "2025..2024", "--code-window"),
                              ("--code-release", "v9", "--code-release"),
                              ("--benchmarks", ",", "--benchmarks names no benchmark"),
                              ("--benchmarks", "gpqa_diamond=", "--benchmarks gpqa_diamond=: give a file"),
                              ("--verify-timeout", "0", "--verify-timeout must be a positive number"),
                              ("--verify-timeout", "nan", "--verify-timeout must be a positive number"),
                              ("--k", "nosuch=4", "--k nosuch=4: no such benchmark in --benchmarks (")):
        assert evaluate_cli.main(["--model", str(tmp_path), "--out", str(tmp_path / "o"), flag, value]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


# --- the real engine, end to end on the shipped fixtures ---

def test_the_tiny_model_end_to_end_on_gpqa_and_livecodebench(tiny_model, engine_backend, tmp_path):
    out = tmp_path / "eval"
    config = dict(model=str(tiny_model), out=out, benchmarks=["gpqa_diamond_sample", "livecodebench_sample"],
                  samples=2, k=["livecodebench_sample=3"], limit=2, max_tokens=24, paper="7b")
    results = evaluate(EvaluateConfig(**config), backend=engine_backend)
    g, c = results["benchmarks"]["gpqa_diamond_sample"], results["benchmarks"]["livecodebench_sample"]
    assert (g["kind"], g["k"], g["problems"], g["samples"], g["shuffle_seed"]) == ("choice", 2, 2, 4, 0)
    assert (c["kind"], c["k"], c["problems"], c["samples"], c["cons@k"]) == ("code", 3, 2, 6, None)
    assert sum(g["verdicts"].values()) == 4 and sum(c["verdicts"].values()) == 6
    shown = [json.loads(line) for line in open(out / "benchmarks" / "gpqa_diamond_sample.jsonl")]
    assert [r["id"] for r in shown] == ["fxq01#0", "fxq01#1", "fxq02#0", "fxq02#1"]
    traces = pq.ParquetDataset(out / "samples" / "gpqa_diamond_sample" / "traces").read().to_pylist()
    assert {t["item_id"] for t in traces} == {"fxq01", "fxq02"}
    for t in traces:   # simple-evals' prompt around the question as shown
        assert t["prompt"].startswith("Answer the following multiple choice question. The last line of your "
                                      "response should be of the following format: 'Answer: $LETTER'")
        assert t["prompt"].endswith(next(r["problem"] for r in shown if r["id"] == t["problem_id"]))
    code_traces = pq.ParquetDataset(out / "samples" / "livecodebench_sample" / "traces").read().to_pylist()
    assert all(t["prompt"].startswith("You will be given a question (problem specification)") and
               "\n\n### Question:\n" in t["prompt"] for t in code_traces)
    md = (out / "results.md").read_text()
    assert "Against the R1 paper (DeepSeek-R1-Distill-Qwen-7B" not in md   # the fixtures are not the paper's sets
    assert "| gpqa_diamond_sample | 2 |" in md and "| livecodebench_sample | 3 |" in md
    assert json.loads((out / "results.json").read_text())["paper"]["model"] == "DeepSeek-R1-Distill-Qwen-7B"
    before = (out / "benchmarks" / "gpqa_diamond_sample.jsonl").stat().st_mtime_ns
    evaluate(EvaluateConfig(**config), backend=engine_backend)   # resumes: the same rows, nothing sampled again
    assert (out / "benchmarks" / "gpqa_diamond_sample.jsonl").stat().st_mtime_ns == before
    runs = json.loads((out / "samples" / "livecodebench_sample" / "manifest.json").read_text())["runs"]
    assert [r["generated"] for r in runs] == [6, 0]


def test_shipped_fixtures_are_listed_and_kinds_sniffed():
    assert {"gpqa_diamond_sample", "livecodebench_sample"} <= set(benchmarks.shipped_benchmarks())
    assert benchmarks.resolve("math500").kind == "answer"
    assert benchmarks.resolve(str(BENCHMARKS_DIR / "livecodebench_sample.jsonl")).kind == "code"
    with pytest.raises(InputError, match="NAME=SOURCE is for gpqa_diamond, livecodebench"):
        benchmarks.resolve("math500=x.jsonl")
