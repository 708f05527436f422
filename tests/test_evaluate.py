"""Evaluation: pass@1 and cons@k from really graded samples; resume; compare; bad names."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from factory import evaluate as evaluate_cli
from factory import evaluation
from factory.evaluation import Sample, grade_and_score, scores

# problem → (reference, the k=4 sampled final answers); correctness is decided by the grader
HAND_BUILT = {
    "all":   ("5", ["5", "5.0", "\\frac{10}{2}", "5"]),                       # 4/4, majority right
    "one":   ("7", ["7", "8", "8", "8"]),                                     # 1/4, majority wrong
    "tie":   ("3", ["3", "3", "4", "4"]),                                     # 2/4, tie → first seen (3)
    "sympy": ("(x+1)^2", ["x^2+2x+1", "x^2+1", None, "x^2 + 2x + 1"]),        # 2/4 via math-verify; None: no answer
}


def _expected():
    per = [1.0, 0.25, 0.5, 0.5]
    mean = sum(per) / 4
    se = math.sqrt(sum((p - mean) ** 2 for p in per) / 3 / 4)
    return mean, se, 3 / 4  # cons: all ✓, one ✗, tie ✓ (3), sympy ✓ ("x^2+2x+1" ×2 after normalising)


def test_scores_on_known_samples():
    samples = [Sample("a", True, "5"), Sample("a", True, "5"), Sample("b", False, "8"), Sample("b", True, "7"),
               Sample("b", False, "8"), Sample("c", False, None)]
    s = scores(samples)
    assert s["problems"] == 3 and s["samples"] == 6
    assert s["pass@1"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert s["cons@k"] == pytest.approx(1 / 3)  # b's majority (8) is wrong, c has no answer


def test_pass1_and_consk_from_really_graded_hand_built_samples(tmp_path):
    rows = []
    for pid, (ref, answers) in HAND_BUILT.items():
        for i, ans in enumerate(answers):
            response = f"So the answer is $\\boxed{{{ans}}}$." if ans is not None else "I am not sure."
            rows.append({"problem_id": pid, "sample": i, "problem": f"Problem {pid}", "answer": ref, "domain": "math",
                         "completion": f"<think>\nwork\n</think>\n\n{response}", "reasoning": "work",
                         "response": response, "finish_reason": "stop"})
    (tmp_path / "samples" / "traces").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "samples" / "traces" / "shard-000000.parquet")
    (tmp_path / "samples" / "manifest.json").write_text("{}")
    s = grade_and_score(tmp_path / "samples", tmp_path / "graded" / "hand")
    mean, se, cons = _expected()
    assert s["problems"] == 4 and s["samples"] == 16
    assert s["pass@1"] == pytest.approx(mean) and s["pass@1_se"] == pytest.approx(se)
    assert s["cons@k"] == pytest.approx(cons)
    assert s["verdicts"] == {"correct": 9, "wrong_answer": 6, "no_answer": 1}


def test_evaluate_with_the_tiny_model_resumes_and_compares(tiny_model, engine_backend, tmp_path, capsys):
    bench = write_jsonl(tmp_path / "mini.jsonl", [{"id": f"m{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)}
                                                  for i in range(3)])
    out = tmp_path / "eval"
    argv = dict(model=str(tiny_model), out=out, benchmarks=[str(bench), "aime24"], samples=2, k=["aime24=1"],
                limit=2, max_tokens=24)
    results = evaluation.evaluate(evaluation.EvaluateConfig(**argv), backend=engine_backend)
    mini, aime = results["benchmarks"]["mini"], results["benchmarks"]["aime24"]
    assert (mini["k"], mini["problems"], mini["samples"]) == (2, 2, 4)
    assert (aime["k"], aime["problems"], aime["samples"]) == (1, 2, 2)
    graded = pq.ParquetDataset(out / "graded" / "mini" / "rejected").read().num_rows if \
        (out / "graded" / "mini" / "rejected").exists() else 0
    assert mini["pass@1"] == pytest.approx((4 - graded) / 4)  # the numbers are the graded samples'
    saved = json.loads((out / "results.json").read_text())
    assert saved["benchmarks"]["mini"]["pass@1"] == mini["pass@1"] and saved["protocol"]["temperature"] == 0.6
    assert "| mini | 2 |" in (out / "results.md").read_text()
    # flaws of the model's own samples: every sample cut at max_tokens counts as loop/truncated
    assert mini["flaws"]["loop_truncated"] >= mini["finish_reasons"].get("length", 0) / 4
    assert 0 < mini["flaws"]["mean_completion_tokens"] <= 24
    assert f"| mini | {tiny_model} |" in (out / "results.md").read_text()

    evaluation.evaluate(evaluation.EvaluateConfig(**argv), backend=engine_backend)  # resume: nothing new
    runs = json.loads((out / "samples" / "mini" / "manifest.json").read_text())["runs"]
    assert [r["generated"] for r in runs] == [4, 0]

    other = json.loads((out / "results.json").read_text())
    other["model"] = "teacher"
    (tmp_path / "teacher.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert evaluate_cli.main(["--compare", str(tmp_path / "teacher.json"), str(out / "results.json")]) == 0
    table = capsys.readouterr().out
    assert "teacher pass@1" in table and f"{tiny_model} pass@1" in table and "| aime24 | 1 |" in table


def test_unknown_benchmark_lists_the_shipped_ones(tmp_path, capsys):
    assert evaluate_cli.main(["--model", "m", "--benchmarks", "math500,mathh", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'mathh'" in err and "gpqa_diamond, livecodebench" in err
    assert ("aime24, amc23, gpqa_diamond_sample, gsm8k_test, lab, lab_general, livecodebench_sample, math500, "
            "minerva_math, olympiadbench") in err
    assert not (tmp_path / "o").exists()
    assert evaluate_cli.main(["--compare", str(tmp_path / "missing.json")]) == 2


def _changed(f):
    """A valid value unlike the field's default, by type."""
    import dataclasses

    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(default, bool):
        return not default
    if f.name == "endpoints":
        return ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
    if f.name == "engine_args":
        return '{"kv_cache_dtype": "fp8"}'
    if isinstance(default, int) or "int" in str(f.type):
        return (default or 0) + 3
    if isinstance(default, float) or "float" in str(f.type):
        return (default or 0.25) * 2 + 0.5
    return f"custom-{f.name}"


def test_evaluate_passes_every_engine_farm_sampling_and_problem_option_to_its_generate_runs(tmp_path):
    import dataclasses

    from generators.options import EngineOptions, FarmOptions, ProblemOptions, ShardOptions, project

    groups = (EngineOptions, FarmOptions, ProblemOptions, ShardOptions)
    values = {f.name: _changed(f) for g in groups for f in dataclasses.fields(g)}
    values.update(templates=tmp_path, dtype="float32", temperature=0.3, top_p=0.5, max_tokens=99, seed=7, limit=3)
    config = evaluation.EvaluateConfig(model="org/teacher", out=tmp_path / "e", benchmarks=["math500", "aime24"],
                                       k=["aime24=16"], **values)
    runs = evaluation.generate_configs(config)
    assert set(runs) == {"math500", "aime24"}
    for name, gen in runs.items():
        for field_name, value in values.items():
            assert getattr(gen, field_name) == value, (name, field_name)
        assert gen.teacher == "org/teacher" and gen.out == tmp_path / "e" / "samples" / name
        assert gen.samples == (16 if name == "aime24" else 4)
        # and what the backends are built from (generators/run.py, make_backend)
        assert project(gen, EngineOptions).llm_kwargs()["kv_cache_dtype"] == "fp8"
        assert project(gen, FarmOptions) == FarmOptions(**{f.name: values[f.name]
                                                          for f in dataclasses.fields(FarmOptions)})
