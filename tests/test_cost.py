"""What an accepted trace costs (issue 28): the generate run's device-seconds and tokens, divided among
the traces by their completion tokens, summed per outcome by the filter, with prices."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory import filter as filter_cli
from factory.core import manifest as manifest_io
from generators.config import GenerateConfig
from generators.run import main as generate

DEVICE_SECONDS = 7200.0   # two GPU-hours spent on the run below


def _run(tmp_path) -> tuple:
    """A generate-run folder: 6 traces, 4 right (one of them truncated) and 2 wrong, with their tokens."""
    rows = []
    for i in range(6):
        right = i < 4
        response = f"So \\boxed{{{i if right else i + 1}}}." if i != 3 else None
        completion = f"<think>\nwork {i}\n</think>\n\n{response}" if response else "<think>\nwork forever"
        rows.append({"problem_id": f"p{i}", "sample": 0, "domain": "math", "problem": f"What is {i}?", "answer": str(i),
                     "prompt": f"What is {i}?", "completion": completion, "finish_reason": "stop" if response else "length",
                     "prompt_tokens": 10 + i, "completion_tokens": 100 * (i + 1)})
    run = tmp_path / "run"
    (run / "traces").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), run / "traces" / "shard-000000.parquet")
    manifest = {"format": manifest_io.FORMAT, "runs": [{"wall_seconds": 900.0, "devices": {"kind": "gpu", "count": 8},
                                                       "device_seconds": DEVICE_SECONDS}],
                "counts": {"prompt_tokens": sum(r["prompt_tokens"] for r in rows),
                           "completion_tokens": sum(r["completion_tokens"] for r in rows)}}
    manifest["cost"] = manifest_io.run_cost(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run, rows


def test_the_cost_of_an_accepted_trace_counts_what_was_rejected(tmp_path, capsys):
    run, rows = _run(tmp_path)
    config = tmp_path / "f.yaml"
    config.write_text("filters:\n  format: {}\n  correctness: {}\n")
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(run), "--out", str(out), "--config", str(config), "--workers", "1",
                            "--price-per-device-hour", "2.5", "--price-per-million-tokens", "0.5"]) == 0
    cost = json.loads((out / "stats.json").read_text())["cost"]
    rate = DEVICE_SECONDS / sum(r["completion_tokens"] for r in rows)      # GPU-seconds per completion token
    by = cost["by_outcome"]
    assert by["accepted"]["traces"] == 3 and by["format"]["traces"] == 1 and by["correctness"]["traces"] == 2
    assert by["correctness"]["completion_tokens"] == 500 + 600                 # the two wrong answers
    assert by["format"]["device_seconds"]["gpu"] == pytest.approx(400 * rate, abs=0.01)   # the truncated one
    assert cost["rejected"]["completion_tokens"] == 400 + 500 + 600
    assert cost["total"]["device_seconds"]["gpu"] == pytest.approx(DEVICE_SECONDS, abs=0.01)
    per = cost["per_accepted_trace"]
    assert per["device_seconds"]["gpu"] == pytest.approx(DEVICE_SECONDS / 3, abs=0.01)   # rejected ones paid for too
    tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    assert per["prompt_tokens"] + per["completion_tokens"] == pytest.approx(tokens / 3, abs=0.2)
    assert per["money"]["devices"] == pytest.approx(DEVICE_SECONDS / 3 / 3600 * 2.5, rel=1e-4)
    assert per["money"]["tokens"] == pytest.approx(tokens / 3 / 1e6 * 0.5, rel=1e-3)
    printed = capsys.readouterr().out
    assert "one accepted trace:" in printed and "2,400.0 gpu-seconds" in printed
    assert "spent on rejected traces: 1,500 completion tokens (71.4%)" in printed


def test_an_input_that_is_not_a_run_has_tokens_but_no_device_time(tmp_path):
    _, rows = _run(tmp_path)
    traces = write_jsonl(tmp_path / "traces.jsonl", rows)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(traces), "--out", str(out), "--workers", "1"]) == 0
    cost = json.loads((out / "stats.json").read_text())["cost"]
    assert cost["device_time_known"] is False and "device_seconds" not in cost["total"]
    assert cost["input"]["completion_tokens"] == sum(r["completion_tokens"] for r in rows)


@pytest.mark.parametrize("flag,value", [("--price-per-device-hour", "two"), ("--price-per-device-hour", "-1"),
                                        ("--price-per-million-tokens", "nan")])
def test_a_price_that_does_not_parse_is_exit_2_and_nothing_written(tmp_path, capsys, flag, value):
    run, _ = _run(tmp_path)
    try:
        code = filter_cli.main(["--input", str(run), "--out", str(tmp_path / "out"), flag, value])
    except SystemExit as e:   # argparse's own refusal of a value that is not a number
        code = e.code
    assert code == 2
    assert flag in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_real_generate_run_then_filter_divides_the_engines_time(tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(4))
    run = tmp_path / "run"
    generate(GenerateConfig(problems=str(problems), teacher=str(tiny_model), out=run, samples=2, max_tokens=16),
             backend=engine_backend)
    spent = json.loads((run / "manifest.json").read_text())["cost"]
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(run), "--out", str(out), "--workers", "1"]) == 0
    cost = json.loads((out / "stats.json").read_text())["cost"]
    assert cost["device_time_known"] and cost["generation"] == spent
    assert cost["total"]["device_seconds"]["cpu"] == pytest.approx(spent["device_seconds"]["cpu"], abs=0.01)
    assert sum(o["traces"] for o in cost["by_outcome"].values()) == 8
