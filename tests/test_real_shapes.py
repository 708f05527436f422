"""The shipped filter chain on traces shaped like a real teacher's (`r1_traces.py`).

Every clean trace passes every filter; every flawed twin is dropped by the
right filter for the right reason; through `python -m factory.filter`, the
accepted set is exactly the clean traces, and the yield report counts them.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from factory import filter as filter_cli
from filters.config import FilterConfig
from filters.decontamination import benchmark_rows
from r1_traces import CLEAN, FLAWS, flawed, row

CHAIN = [n for n in FilterConfig.load().filters if n not in ("dedup", "code_tests")]


@pytest.fixture(scope="module")
def shipped():
    cfg = FilterConfig.load()
    return {name: cfg.build_one(name) for name in CHAIN}


def first_rejection(filters: dict, r: dict):
    for name, f in filters.items():
        reason = f.reject(dict(r))
        if reason:
            return name, str(reason)
    return None


@pytest.mark.parametrize("t", CLEAN, ids=[t["id"] for t in CLEAN])
def test_clean_real_shapes_pass_every_filter(shipped, t):
    assert first_rejection(shipped, row(t)) is None


@pytest.mark.parametrize("flaw", list(FLAWS))
@pytest.mark.parametrize("t", CLEAN, ids=[t["id"] for t in CLEAN])
def test_each_flaw_is_dropped_for_its_reason(shipped, t, flaw):
    assert first_rejection(shipped, flawed(t, flaw)) == FLAWS[flaw]


def test_the_whole_chain_keeps_exactly_the_clean_traces(tmp_path, capsys):
    rows, expected = [], {}

    def add(r, reason):
        r = dict(r, id=f"{r['problem_id']}/{len(rows)}", source="r1-shapes")
        rows.append(r)
        expected[r["id"]] = reason

    for t in CLEAN:
        add(row(t, sample=0), None)
        sure = "所以我确信这个答案。" if t["id"] == "zh-1" else "So I'm confident in this."
        add(row(t, sample=1, reasoning=t["reasoning"] + "\n\n" + sure), None)  # a distinct sample: kept
        add(row(t, sample=2), "exact_duplicate")
        for i, flaw in enumerate(FLAWS):
            add(dict(flawed(t, flaw), sample=3 + i), FLAWS[flaw][1])
    leak_id, leak = next(iter(benchmark_rows("amc23")[1]))
    add(row(CLEAN[4], sample=0, problem_id="leak", problem=leak), "contaminated:amc23")
    src = write_jsonl(tmp_path / "traces.jsonl", rows)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    table = pq.ParquetDataset(out / "accepted").read().to_pylist() + pq.ParquetDataset(out / "rejected").read().to_pylist()
    assert {r["id"]: r["reject_reason"] for r in table} == expected
    leak_row = next(r for r in table if r["problem_id"] == "leak")
    detail = json.loads(leak_row["reject_detail"])
    assert detail["benchmark"] == "amc23" and detail["benchmark_id"] == leak_id and detail["where"] == "problem"

    stats = json.loads((out / "stats.json").read_text())
    y = stats["yield"]
    n_clean = len(CLEAN)
    assert y["input"] == len(rows) and y["accepted"] == 2 * n_clean
    assert y["problems"] == n_clean + 1 and y["problems_without_accepted"] == 1
    # correct samples: the two kept, the duplicate, and every flaw but the wrong, unanswered and cut-off
    # ones; the leaked problem's one sample answers its (unchanged) reference
    per_problem = 3 + len(FLAWS) - 3
    assert y["mean_pass_rate"] == pytest.approx(
        (n_clean * per_problem / (3 + len(FLAWS)) + 1.0) / (n_clean + 1), abs=1e-3)
    assert stats["decontamination"]["leaks"]["amc23"] == {"rows": 1, "benchmark_problems": 1, "where": {"problem": 1}}
    assert stats["decontamination"]["leaks"]["math500"]["rows"] == 0

    problems = pq.read_table(out / "problems.parquet").to_pylist()
    geo = next(p for p in problems if p["problem_id"] == "geo-1")
    assert geo == {"problem_id": "geo-1", "samples": 3 + len(FLAWS), "checked": 3 + len(FLAWS),
                   "correct": per_problem, "accepted": 2, "pass_rate": pytest.approx(per_problem / (3 + len(FLAWS)))}
    printed = capsys.readouterr().out
    assert f"yield: {2 * n_clean} of {len(rows)} traces accepted" in printed
    assert "pass rate (correct / samples)" in printed
