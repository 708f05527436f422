"""The generative judge (filters/judge.py, filters/pipeline/referee.py) and the difficulty band
(filters/pipeline/band.py), with real parts: a loopback OpenAI-compatible server in its own process
answering scripted verdicts through the farm backend (policy, columns, cache, a server that dies, a
slow one, kill -9 and rerun), the lab teacher on the real in-process engine as a judge (its
verdicts are nonsense: the parser and the unreadable path), and the verb's bad judge blocks."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, python_cmd, write_jsonl
from factory import filter as filter_verb
from filters.judge import JudgeSpec, combine, parse_verdict

# ---------------------------------------------------------------- parsing and policy


@pytest.mark.parametrize("reply, expected", [
    ('{"verdict": "correct", "reason": "same set"}', (True, "same set")),
    ('{"verdict": "incorrect", "reason": "8 is not 7"}', (False, "8 is not 7")),
    ('<think>\nThe reference is {1, 2}. Wait, order does not matter.\n</think>\n'
     '{"verdict": "correct", "reason": "same set"}', (True, "same set")),
    ('Both are 1/2.\n```json\n{"verdict": "Correct", "reason": "0.5 = 1/2"}\n```', (True, "0.5 = 1/2")),
    ('{"verdict": "incorrect", "reason": "first look"} Wait, x = -2 also works. '
     '{"verdict": "correct", "reason": "on reflection"}', (True, "on reflection")),
    ("Verdict: incorrect", (False, "Verdict: incorrect")),
    ("**Verdict:** correct", (True, "**Verdict:** correct")),
    ('判断：{"verdict": "correct", "reason": "两个答案相同"}', (True, "两个答案相同")),
])
def test_readable_verdicts_are_read(reply, expected):
    assert parse_verdict(reply) == expected


@pytest.mark.parametrize("reply", ["", "Hmm, that is an interesting question.", '{"verdict": "maybe"}',
                                   '{\t\t\t\t\t\t', '{"reason": "no verdict key"}', "<think>\ncorrect?"])
def test_unreadable_verdicts_are_recorded_never_guessed(reply):
    correct, reason = parse_verdict(reply)
    assert correct is None and reason.startswith("unreadable")


@pytest.mark.parametrize("rule, judge, rule_or_judge, judge_only, rule_and_judge", [
    (True, True, True, True, True), (True, False, True, False, False), (False, True, True, True, False),
    (False, False, False, False, False), (None, True, True, True, False), (None, False, False, False, False),
    (None, None, None, None, None), (True, None, True, True, False), (False, None, False, False, False),
])
def test_policies(rule, judge, rule_or_judge, judge_only, rule_and_judge):
    assert combine(rule, judge, "rule_or_judge") is rule_or_judge
    assert combine(rule, judge, "judge") is judge_only
    assert combine(rule, judge, "rule_and_judge") is rule_and_judge


def test_when_picks_the_rows():
    def spec(when):
        return JudgeSpec.parse({"model": "m", "when": when})
    cases = [("correct", True), ("wrong_answer", True), ("no_answer", True), ("verify_timeout", True),
             ("unparseable_answer", True), ("verify_error:RecursionError", True), ("no_reference", False)]
    assert [spec("undecided").wants(r, ref) for r, ref in cases] == [False, False, True, True, True, True, False]
    assert [spec("rejected").wants(r, ref) for r, ref in cases] == [False, True, True, True, True, True, False]
    assert [spec("all").wants(r, ref) for r, ref in cases] == [True] * 6 + [True]
    assert [spec("no_reference").wants(r, ref) for r, ref in cases] == [False] * 6 + [True]


# ---------------------------------------------------------------- inputs and the scripted server

# (problem id, response, reference) → what the rule says, what the scripted judge says
SHAPES = {
    "ok": ("\\[ 2 + 3 = 5 \\]\nSo the answer is \\boxed{5}.", "5"),                     # rule correct
    "wrong": ("Wait, 2 + 4 = 6.\n\n**Final Answer**\n\\boxed{6}", "5"),                  # rule wrong, judge wrong
    "flip": ("The answer is \\boxed{7 \\pm}.", "7"),                                     # rule wrong, judge correct
    "unmarked": ("Adding everything, the total comes to 7.", "7"),                        # no answer, judge correct
    "garbled": ("The result is GARBLED beyond words.", "4"),                              # no answer, judge unreadable
}


def _traces(path: Path, shapes=SHAPES, samples: int = 2) -> Path:
    rows = []
    for pid, (response, reference) in shapes.items():
        for s in range(samples):
            rows.append({"problem_id": pid, "problem": f"Problem {pid}: compute it.", "answer": reference,
                         "completion": f"<think>\nLet me think about {pid}, attempt {s}.\n</think>\n{response}"})
    return write_jsonl(path, rows)


def _yaml(path: Path, judge: dict, extra: str = "") -> Path:
    path.write_text(extra + "filters:\n  format: {}\n  correctness:\n    judge: " + json.dumps(judge) + "\n")
    return path


class JudgeServer:
    def __init__(self, tokenizer_dir: Path, tmp: Path, delay: float = 0.0):
        port_file = tmp / f"port-{time.monotonic_ns()}"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "judge_server.py"), str(tokenizer_dir),
                                      str(port_file), "--delay", str(delay)], start_new_session=True)
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, "judge server did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text()}/v1"

    def calls(self) -> int:
        import httpx

        return httpx.get(self.url.removesuffix("/v1") + "/calls", timeout=5).json()["calls"]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def server(tiny_model, tmp_path):
    started = []

    def start(delay: float = 0.0) -> JudgeServer:
        started.append(JudgeServer(tiny_model, tmp_path, delay))
        return started[-1]
    yield start
    for s in started:
        s.kill()


def _farm_judge(tiny_model, s: JudgeServer, tmp_path: Path, **kw) -> dict:
    return {"model": "scripted-judge", "tokenizer": str(tiny_model), "endpoints": [s.url],
            "cache": str(tmp_path / "judge.sqlite"), **kw}


def _filter(*argv) -> int:
    return filter_verb.main([*map(str, argv), "--workers", "1"])


def _rows(out: Path) -> dict[str, list[dict]]:
    rows = {}
    for part in ("accepted", "rejected", "hard"):
        files = sorted((out / part).glob("*.parquet"))
        rows[part] = [r for f in files for r in pq.read_table(f).to_pylist()]
    return rows


def _by_problem(rows: list[dict]) -> dict[str, set]:
    out: dict[str, set] = {}
    for r in rows:
        out.setdefault(r["problem_id"], set()).add((r["reject_reason"], r["correct_rule"], r["correct_judge"]))
    return out


# ---------------------------------------------------------------- the judge through a farm


def test_second_opinion_keeps_both_verdicts_and_the_policy_decides(server, tiny_model, tmp_path):
    s = server()
    traces = _traces(tmp_path / "in.jsonl")
    config = _yaml(tmp_path / "f.yaml", _farm_judge(tiny_model, s, tmp_path, when="rejected", batch=3))
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    rows = _rows(tmp_path / "out")
    everything = _by_problem(rows["accepted"] + rows["rejected"])
    assert everything == {
        "ok": {(None, None, None)},                            # the rule decided: not asked
        "wrong": {("wrong_answer", False, False)},            # both wrong
        "flip": {(None, False, True)},                         # the judge's second opinion keeps it
        "unmarked": {(None, None, True)},                      # no answer marked: the judge reads the end
        "garbled": {("judge_unreadable", None, None)},         # an unreadable verdict: recorded, never guessed
    }
    assert {r["problem_id"] for r in rows["accepted"]} == {"ok", "flip", "unmarked"}
    reasons = {r["problem_id"]: r["judge_reason"] for r in rows["accepted"] + rows["rejected"]}
    assert reasons["flip"] == "scripted: correct" and reasons["garbled"].startswith("unreadable: Hmm")
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]
    assert stats["rows"] == 8 and stats["asked"] == 4 == s.calls() and stats["cache_hits"] == 0
    assert stats["verdicts"] == {"correct": 4, "incorrect": 2, "none": 2} and stats["unreadable"] == 2
    assert stats["flipped"] == {"to_correct": 4, "to_rejected": 0}
    assert stats["agreement"] == {"both_decided": 4, "agree": 2, "rate": 0.5}
    assert stats["completion_tokens"] > 0 and stats["backend"]["backend"] == "farm"

    # A rerun, into another folder under another policy, asks the server nothing: every verdict is cached.
    config = _yaml(tmp_path / "g.yaml", _farm_judge(tiny_model, s, tmp_path, when="rejected", policy="rule_and_judge"))
    assert _filter("--input", traces, "--out", tmp_path / "again", "--config", config) == 0
    again = json.loads((tmp_path / "again" / "stats.json").read_text())["judge"]
    assert s.calls() == 4 and again["cache_hits"] == 8 and again["asked"] == 0
    rows = _rows(tmp_path / "again")
    assert {r["problem_id"] for r in rows["accepted"]} == {"ok"}
    assert _by_problem(rows["rejected"])["flip"] == {("wrong_answer", False, True)}
    assert _by_problem(rows["rejected"])["unmarked"] == {("no_answer", None, True)}


def test_the_judge_decides_rows_without_a_reference(server, tiny_model, tmp_path, capsys):
    s = server()
    traces = _traces(tmp_path / "in.jsonl", {"free": ("It is 7.", None), "ref": ("\\boxed{7}", "7")})
    judge = _farm_judge(tiny_model, s, tmp_path, when="no_reference")
    judge["endpoints"] = [s.url.replace("http://", "http://judge:s3cret@")]   # credentials in the URL
    config = _yaml(tmp_path / "f.yaml", judge)
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    assert "s3cret" not in (tmp_path / "out" / "stats.json").read_text() + str(capsys.readouterr())
    rows = _rows(tmp_path / "out")
    # The scripted judge says incorrect without a reference to compare with; the row says so.
    assert _by_problem(rows["rejected"]) == {"free": {("judge_incorrect", None, False)}}
    assert _by_problem(rows["accepted"]) == {"ref": {(None, None, None)}}


def test_chinese_and_russian_traces_are_kept_and_judged_like_english(server, tiny_model, tmp_path):
    """Reasoning in another language under an English "**Final Answer**" header, no answer marked:
    the language filter keeps it, the rule leaves it undecided, and the judge decides it as it does
    the English one."""
    s = server()
    shapes = {
        "zh": ("**Final Answer**\n\n总和是 7。", "7"),
        "ru": ("**Final Answer**\n\nСумма равна 7.", "7"),
        "en": ("**Final Answer**\n\nThe sum comes to 7.", "7"),
    }
    traces = _traces(tmp_path / "in.jsonl", shapes, samples=1)
    rows = [json.loads(line) for line in traces.read_text().splitlines()]
    thinking = {"zh": "我们先计算 3 + 4。等等，再检查一遍：3 + 4 = 7。",
                "ru": "Сначала сложим 3 и 4. Подождите, проверим ещё раз: 3 + 4 = 7.",
                "en": "First add 3 and 4.\nWait, check again: \\[ 3 + 4 = 7 \\]"}
    asked = {"zh": "求 3 + 4 的值。", "ru": "Найдите 3 + 4.", "en": "Find 3 + 4."}
    for r in rows:   # each problem asked, and reasoned about, in its own language
        r["problem"] = asked[r["problem_id"]]
        r["completion"] = f"<think>\n{thinking[r['problem_id']]}\n</think>\n{shapes[r['problem_id']][0]}"
    write_jsonl(traces, rows)
    config = tmp_path / "f.yaml"
    config.write_text("filters:\n  format: {}\n  language: {}\n  correctness:\n    judge: "
                      + json.dumps(_farm_judge(tiny_model, s, tmp_path)) + "\n")
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    rows = _rows(tmp_path / "out")
    assert not rows["rejected"]
    assert {(r["problem_id"], r["correct_rule"], r["correct_judge"]) for r in rows["accepted"]} == \
        {("zh", None, True), ("ru", None, True), ("en", None, True)}


def test_a_judge_server_that_dies_costs_its_rows_not_the_run(server, tiny_model, tmp_path):
    s = server(delay=0.3)
    shapes = {f"u{i}": (f"So the total is {i}.", str(i)) for i in range(12)}
    traces = _traces(tmp_path / "in.jsonl", shapes, samples=1)
    judge = _farm_judge(tiny_model, s, tmp_path, batch=1, dead_grace=1.0, max_attempts=2, connect_timeout=1.0,
                        probe_interval=0.2)
    config = _yaml(tmp_path / "f.yaml", judge)
    proc = subprocess.Popen(python_cmd("-m", "factory.filter", "--input", str(traces), "--out", str(tmp_path / "out"),
                                       "--config", str(config), "--workers", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while s.calls() < 3:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    s.kill()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    rows = _rows(tmp_path / "out")
    judged = {r["problem_id"]: r for r in rows["accepted"]}
    failed = [r for r in rows["rejected"] if r["reject_reason"] == "judge_error"]
    assert len(judged) >= 3 and len(judged) + len(failed) == 12
    assert all(r["correct_judge"] is True for r in judged.values())
    assert failed and all(r["judge_reason"].startswith("judge_error") and r["correct_judge"] is None for r in failed)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]
    assert stats["errors"] == len(failed)


def test_a_judge_slower_than_its_timeout_costs_those_rows(server, tiny_model, tmp_path):
    s = server()
    shapes = {"fast": ("So the total is 3.", "3"), "slow": ("So the total is SLOW 4.", "4")}
    traces = _traces(tmp_path / "in.jsonl", shapes, samples=1)
    config = _yaml(tmp_path / "f.yaml", _farm_judge(tiny_model, s, tmp_path, batch=1, request_timeout=1.0,
                                                    max_attempts=1))
    t0 = time.monotonic()
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    assert time.monotonic() - t0 < 25   # the slow reply (30 s) was not waited for
    rows = _rows(tmp_path / "out")
    assert [r["problem_id"] for r in rows["accepted"]] == ["fast"]
    assert [(r["problem_id"], r["reject_reason"]) for r in rows["rejected"]] == [("slow", "judge_timeout")]
    # A timeout is not a verdict: the next run asks again.
    assert sqlite3.connect(tmp_path / "judge.sqlite").execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 1


def test_kill_9_loses_at_most_the_verdicts_in_flight(server, tiny_model, tmp_path):
    s = server(delay=0.25)
    shapes = {f"k{i}": (f"So the total is {i}.", str(i)) for i in range(24)}
    traces = _traces(tmp_path / "in.jsonl", shapes, samples=1)
    config = _yaml(tmp_path / "f.yaml", _farm_judge(tiny_model, s, tmp_path, batch=2))
    argv = python_cmd("-m", "factory.filter", "--input", str(traces), "--out", str(tmp_path / "out"),
                      "--config", str(config), "--workers", "1")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = tmp_path / "judge.sqlite"
    deadline = time.monotonic() + 120
    cached = 0
    while cached < 6:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
        if db.exists():
            try:
                cached = sqlite3.connect(db).execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)   # the server finishes (and counts) the requests the killed run had in flight
    cached = sqlite3.connect(db).execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    asked_before = s.calls()
    assert asked_before - cached <= 2 + 2   # the call in flight, and one whose reply was on its way
    assert not (tmp_path / "out").exists()
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    assert s.calls() - asked_before == 24 - cached   # only what was not cached is asked again
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]
    assert stats["cache_hits"] == cached and stats["asked"] == 24 - cached
    assert len(_rows(tmp_path / "out")["accepted"]) == 24


# ---------------------------------------------------------------- the lab teacher as judge, on the real engine


class _Shared:
    """The session's engine as the judge's teacher (closed by its fixture, not by the run)."""

    def __init__(self, backend, tokenizer_dir):
        self.backend, self.dir = backend, tokenizer_dir

    def check(self, model, options):
        return None

    def start(self, model, tokenizer, options):
        backend = self.backend

        class NoClose:
            name, option_groups = backend.name, backend.option_groups
            context_length, stats = backend.context_length, {}

            def describe(self):
                return backend.describe()

            def generate(self, requests, spec):
                return backend.generate(requests, spec)

            def close(self):
                pass
        return NoClose()

    def tokenizer(self, name):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.dir))


@pytest.mark.parametrize("structured", [True, False])
def test_the_lab_teacher_judges_on_the_real_engine_and_its_nonsense_is_recorded(engine_backend, tiny_model,
                                                                               tmp_path, structured):
    from filters.chain import FilterRunConfig, run

    traces = _traces(tmp_path / "in.jsonl")
    config = _yaml(tmp_path / "f.yaml", {"model": str(tiny_model), "when": "all", "max_tokens": 48,
                                         "structured": structured, "cache": str(tmp_path / "judge.sqlite")})
    cfg = FilterRunConfig(input=str(traces), out=tmp_path / "out", config=config, workers=1)
    report = run(cfg, teachers=_Shared(engine_backend, tiny_model))
    assert report.input_rows == 10
    rows = _rows(tmp_path / "out")
    judged = [r for r in rows["accepted"] + rows["rejected"] if r["judge_reason"] is not None]
    assert len(judged) == 10
    for r in judged:  # whatever the tiny model wrote, the row says what was read of it
        assert (r["correct_judge"] is None) == r["judge_reason"].startswith("unreadable")
        assert r["correct_rule"] == {"ok": True, "wrong": False, "flip": False}.get(r["problem_id"])
        if r["correct_judge"] is None and r["correct_rule"] is None:
            assert r["reject_reason"] == "judge_unreadable"
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]
    assert sum(stats["verdicts"].values()) == stats["rows"] == 10
    # A problem's two samples show the judge the same answer: one prompt each, asked once.
    assert stats["asked"] == 5 and stats["completion_tokens"] > 0 and stats["seconds"] > 0


# ---------------------------------------------------------------- the difficulty band


def _banded_traces(path: Path) -> Path:
    """Pass rates: easy 1.0, half 0.5, hard 0.25, never 0.0 (4 samples each)."""
    rows = []
    for pid, right in (("easy", 4), ("half", 2), ("hard", 1), ("never", 0)):
        for s in range(4):
            ans = "5" if s < right else str(10 + s)
            rows.append({"problem_id": pid, "problem": f"{pid}: what is 2 + 3?", "answer": "5",
                         "completion": f"<think>\nTry {s} on {pid}.\n</think>\nSo \\boxed{{{ans}}}."})
    return write_jsonl(path, rows)


def test_a_band_keeps_the_problems_in_it_and_says_why_it_dropped_the_rest(tmp_path):
    traces = _banded_traces(tmp_path / "in.jsonl")
    config = tmp_path / "f.yaml"
    config.write_text("select: {pass_rate: [0.2, 0.6]}\nfilters:\n  format: {}\n  correctness: {}\n")
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config) == 0
    rows = _rows(tmp_path / "out")
    assert sorted(r["problem_id"] for r in rows["accepted"]) == ["half", "half", "hard"]
    dropped = [r for r in rows["rejected"] if r["reject_reason"] == "out_of_band"]
    assert sorted(r["problem_id"] for r in dropped) == ["easy"] * 4
    assert {json.loads(r["reject_detail"])["pass_rate"] for r in dropped} == {1.0}
    assert all(r["reject_filter"] == "select" for r in dropped)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["select"]["problems_in_band"] == 2 and stats["accepted"] == 3
    assert stats["funnel"][-1]["filter"] == "select" and stats["flaws"]["out_of_band"] == 4
    assert len(rows["accepted"]) + len(rows["rejected"]) == 16


def test_hard_subset_writes_the_band_beside_the_whole_accepted_set(tmp_path):
    traces = _banded_traces(tmp_path / "in.jsonl")
    config = tmp_path / "f.yaml"
    config.write_text("select: {pass_rate: [0.0, 0.3]}\nfilters:\n  format: {}\n  correctness: {}\n")
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config, "--hard-subset") == 0
    rows = _rows(tmp_path / "out")
    assert sorted(r["problem_id"] for r in rows["accepted"]) == ["easy"] * 4 + ["half"] * 2 + ["hard"]
    assert [r["problem_id"] for r in rows["hard"]] == ["hard"]
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["select"]["hard_rows"] == 1


# ---------------------------------------------------------------- bad judge blocks and bands


@pytest.mark.parametrize("yaml_text, flags, line, words", [
    ("filters:\n  correctness:\n    judge:\n      model: m\n      when: sometimes\n", [], 5, "when must be one of"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      policy: majority\n", [], 5, "policy must be one of"),
    ("filters:\n  correctness:\n    judge:\n      when: all\n", [], 3, "judge.model is required"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      max_tokens: lots\n", [], 5, "expected int"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      replica: 2\n", [], 5, "did you mean replicas"),
    ("filters:\n  correctness:\n    judge:\n      model: /no/such/judge\n", [], 4, "no such folder"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      cache: /proc/no/judge.sqlite\n", [], 5,
     "cannot open it"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      backend: sglang\n", [], 5, "engine, farm, ray"),
    ("filters:\n  correctness:\n    judge:\n      model: m\n      backend: farm\n", [], 5, "needs --endpoints"),
    ("select:\n  pass_rate: [0.2, 1.5]\nfilters:\n  correctness: {}\n", [], 2, "0 <= lo <= hi <= 1"),
    ("select:\n  pass_rate: [0.6, 0.2]\nfilters:\n  correctness: {}\n", [], 2, "0 <= lo <= hi <= 1"),
    ("select:\n  rate: [0.2, 0.5]\nfilters:\n  correctness: {}\n", [], 2, "select takes one key"),
    ("filters:\n  correctness: {}\n", ["--hard-subset"], None, "--hard-subset needs a difficulty band"),
])
def test_a_bad_judge_block_or_band_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, yaml_text, flags,
                                                                          line, words):
    traces = _traces(tmp_path / "in.jsonl")
    config = tmp_path / "f.yaml"
    config.write_text(yaml_text)
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config, *flags) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("library logs:")]
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0], err
    if line is not None:
        assert f"{config}:{line}:" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


# ---------------------------------------------------------------- what the card and the Hub get


def _stage(folder: Path, stage: Path, capsys) -> str:
    from factory import publish

    assert publish.main(["--data", str(folder), "--repo-id", "me/traces", "--dry-run", "--stage", str(stage)]) == 0
    assert "load_dataset round-trip ok" in capsys.readouterr().out
    return (stage / "README.md").read_text()


def test_the_card_reports_the_judge_and_publishes_the_hard_subset(server, tiny_model, tmp_path, capsys):
    import datasets

    s = server()
    traces = _banded_traces(tmp_path / "in.jsonl")
    config = _yaml(tmp_path / "f.yaml", _farm_judge(tiny_model, s, tmp_path, when="rejected"),
                   extra="select: {pass_rate: [0.0, 0.3]}\n")
    assert _filter("--input", traces, "--out", tmp_path / "out", "--config", config, "--hard-subset") == 0
    card = _stage(tmp_path / "out", tmp_path / "stage", capsys)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    j = stats["judge"]
    assert "## Correctness beyond rules: the judge" in card
    assert f"| rows it judged | {j['rows']:,} (when: `rejected`) |" in card
    assert f"| agreement with the rule | {j['agreement']['agree']} of {j['agreement']['both_decided']}" in card
    assert "## Difficulty band" in card and "published as the `hard` config" in card
    hard = datasets.load_dataset(str(tmp_path / "stage"), "hard", split="train")
    assert hard.num_rows == stats["select"]["hard_rows"] == len(_rows(tmp_path / "out")["hard"])
    assert "reject_reason" not in hard.column_names and "correct_judge" in hard.column_names


def test_a_full_disk_under_the_cache_stops_the_run_and_keeps_what_it_committed(server, tiny_model, tmp_path):
    from test_nothing_lost import _mount, one_line_error

    disk = tmp_path / "tiny-disk"
    if not _mount(disk, "size=96k"):
        pytest.skip("needs permission to mount a tmpfs (root)")
    try:
        s = server()
        shapes = {f"d{i}": (f"So the total is {i}.", str(i)) for i in range(60)}
        traces = _traces(tmp_path / "in.jsonl", shapes, samples=1)
        judge = {**_farm_judge(tiny_model, s, tmp_path, batch=1), "cache": str(disk / "judge.sqlite")}
        config = _yaml(tmp_path / "f.yaml", judge)
        proc = subprocess.run(python_cmd("-m", "factory.filter", "--input", str(traces), "--out",
                                         str(tmp_path / "out"), "--config", str(config), "--workers", "1"),
                              capture_output=True, text=True, timeout=300)
        one_line_error(proc, 1, "the judge's cache", "rerun")
        assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
        kept = sqlite3.connect(disk / "judge.sqlite").execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
        assert 0 < kept < 60
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
