"""Nothing lost, ever: the README's reliability promises, one test (or a few) each.

Faults are real: verbs run as their own processes (`python -m factory.VERB`), two of them on one
folder at once (the first held stopped with SIGSTOP while it holds its lock, so the overlap is
certain, not a race), kill -9, a full disk and a read-only one (small tmpfs mounts; skipped where
this user may not mount).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, TEST_MAX_MODEL_LEN, TEST_MEMORY_FRACTION, make_problems, python_cmd, write_jsonl
from factory.core import manifest as manifest_io
from factory.core.shards import ShardWriter
from factory.core.traces import trace_schema

PROSE = ("Okay, so I need to add the two numbers.\n\nWe add them step by step, carrying where needed.\n\n"
         "Wait, let me check the total against an estimate, so that no slip survives into the final answer.")


# -- fixtures -----------------------------------------------------------------------------------

def trace(i: int, *, answer: str | None = None, teacher: str = "teacher@0123456789ab", temperature: float = 0.6) -> dict:
    right = 2 * i + 1
    given = right if i % 4 else right + 1  # every fourth answer is wrong
    return {"problem_id": f"p{i:04d}", "sample": 0, "domain": "math", "problem": f"What is {i} + {i + 1}?",
            "answer": answer or str(right), "prompt": f"What is {i} + {i + 1}?", "finish_reason": "stop",
            "completion": f"<think>\n{PROSE} {i} + {i + 1} = {given}.\n</think>\n\nThe answer is $\\boxed{{{given}}}$.",
            "reasoning": f"{PROSE} {i} + {i + 1} = {given}.", "response": f"The answer is $\\boxed{{{given}}}$.",
            "prompt_tokens": 12, "completion_tokens": 60, "teacher": teacher, "temperature": temperature,
            "top_p": 0.95, "max_tokens": 512, "seed": i}


def generate_run(folder: Path, n: int = 40) -> Path:
    """A generate run folder as factory.generate leaves it: manifest.json and trace shards."""
    w = ShardWriter(folder / "traces", trace_schema(), max_rows=max(1, n // 2))
    w.add_many(trace(i) for i in range(n))
    w.close()
    manifest_io.write(folder, {"format": manifest_io.FORMAT, "status": "complete",
                               "identity": {"teacher": "teacher@0123456789ab", "temperature": 0.6, "top_p": 0.95,
                                            "max_tokens": 512, "seed": 0},
                               "config": {"samples": 1, "out": str(folder)},
                               "problems": {"source": "problems@abcdef012345", "count": n},
                               "templates": {"math": {"path": "/home/someone/templates/math.txt",
                                                      "text": "{problem}\nPlease reason step by step.",
                                                      "sha256": "0"}},
                               "versions": {"vllm": "0.0"}, "runs": []})
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (relative name → sha256): what must come out unchanged."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def process(name: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m factory.NAME ARGS` as its own process: for faults (locks, kill -9, disks, engines)."""
    return subprocess.run(python_cmd("-m", f"factory.{name}", *map(str, args)), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def verb(name: str, *args) -> subprocess.CompletedProcess:
    """The verb's `main(argv)` in this process (the same code as `python -m factory.NAME`, seconds
    faster): for what bad input must not destroy."""
    import contextlib
    import importlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = importlib.import_module(f"factory.{name}").main(list(map(str, args)))
    return subprocess.CompletedProcess(name, code, out.getvalue(), err.getvalue())


def one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """The verb exited `code` with one `error:` line holding every needle, and no traceback."""
    err = proc.stderr
    assert proc.returncode == code, proc.stdout[-2000:] + err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def filtered(tmp_path_factory) -> Path:
    """A filter output (accepted, rejected, stats.json) of a generate-run folder, made once."""
    from factory import filter as filter_cli

    base = tmp_path_factory.mktemp("filtered")
    run = generate_run(base / "gen")
    assert filter_cli.main(["--input", str(run), "--out", str(base / "out"), "--workers", "1"]) == 0
    return base / "out"


def _mount(where: Path, *options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB file system: the disk fills up mid-run."""
    disk = tmp_path / "small-disk"
    if not _mount(disk, "size=1m"):
        pytest.skip("needs permission to mount a tmpfs (root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.fixture
def read_only_disk(tmp_path):
    disk = tmp_path / "ro-disk"
    if not _mount(disk, "size=1m", "ro"):
        pytest.skip("needs permission to mount a tmpfs (root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _start(name: str, *args, log: Path) -> subprocess.Popen:
    return subprocess.Popen(python_cmd("-m", f"factory.{name}", *map(str, args)), cwd=ROOT,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


# -- 1. a verb never deletes or replaces what it did not create ------------------------------------

def test_publish_stage_never_deletes_the_data_or_a_users_folder(filtered, tmp_path):
    before = snapshot(filtered)
    # --stage is the data, inside it, or holds it
    for stage, says in ((filtered, "is the input given as --data"),
                        (filtered / "accepted", "is inside the input --data"),
                        (filtered.parent, "holds the input --data")):
        proc = verb("publish", "--data", filtered, "--dry-run", "--stage", stage)
        one_line_error(proc, 2, says)
    # --stage is a folder of the user's
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    (mine / "sub" / "draft.md").write_text("a draft")
    mine_before = snapshot(mine)
    one_line_error(verb("publish", "--data", filtered, "--dry-run", "--stage", mine), 2,
                   "not empty and was not made by factory.publish")
    assert snapshot(mine) == mine_before and snapshot(filtered) == before
    # a staging folder publish made is replaced; one the user put a file into is not
    stage = tmp_path / "stage"
    for _ in range(2):
        assert verb("publish", "--data", filtered, "--dry-run", "--stage", stage).returncode == 0
    (stage / "keep-me.txt").write_text("mine")
    one_line_error(verb("publish", "--data", filtered, "--dry-run", "--stage", stage), 2, "keep-me.txt")
    assert (stage / "keep-me.txt").read_text() == "mine" and snapshot(filtered) == before
    assert not (tmp_path / "stage.lock").exists()


def test_filter_overwrite_never_reaches_its_input_or_a_users_folder(tmp_path):
    runs = tmp_path / "runs"
    run = generate_run(runs / "gen")
    (runs / "notes.txt").write_text("my notes")
    (runs / "other-run").mkdir()
    (runs / "other-run" / "result.json").write_text("{}")
    before = snapshot(runs)
    for out, says in ((run, "is the input given as --input"),                 # --out = --input
                      (runs, "holds the input --input"),                       # --out is a parent of it
                      (run / "traces", "is inside the input --input")):
        one_line_error(verb("filter", "--input", run, "--out", out, "--overwrite"), 2, says)
    # the input is named `X.partial`: the run's own temporary folder would be the input
    partial_named = generate_run(tmp_path / "x.partial")
    one_line_error(verb("filter", "--input", partial_named, "--out", tmp_path / "x", "--overwrite"), 2,
                   "its x.partial")
    assert snapshot(runs) == before
    # --overwrite replaces an output the filter made, never a folder of the user's
    one_line_error(verb("filter", "--input", run, "--out", runs / "other-run", "--overwrite"), 2,
                   "not empty and was not made by factory.filter")
    out = tmp_path / "filtered"
    for _ in range(2):
        assert verb("filter", "--input", run, "--out", out, "--overwrite", "--workers", "1").returncode == 0
    (out / "notes.txt").write_text("mine")
    one_line_error(verb("filter", "--input", run, "--out", out, "--overwrite"), 2, "notes.txt")
    assert (out / "notes.txt").read_text() == "mine" and snapshot(runs) == before


def test_verbs_do_not_write_into_each_others_folders(filtered, tiny_model, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    proc = verb("generate", "--problems", problems, "--teacher", tiny_model, "--out", filtered, "--samples", "1")
    one_line_error(proc, 2, "holds the output of factory.filter")
    gen = generate_run(tmp_path / "gen")
    one_line_error(verb("filter", "--input", filtered, "--out", gen, "--overwrite"), 2,
                   "not empty and was not made by factory.filter")
    for out, says in ((filtered, "is the input given as --data"), (gen, "not empty and was not made by "
                                                                       "factory.train_student")):
        one_line_error(verb("train_student", "--data", filtered, "--out", out, "--max-steps", "1"), 2, says)
    assert not (filtered / "model").exists() and not (gen / "checkpoints").exists()
    file_out = tmp_path / "a-file"
    file_out.write_text("not a folder")
    one_line_error(verb("filter", "--input", gen, "--out", file_out), 2, "exists and is not a folder")
    assert file_out.read_text() == "not a folder"


# -- 2. one lock per output folder, taken before anything there is read ---------------------------

def test_two_filters_into_one_out_one_is_refused_and_the_output_is_whole(tmp_path):
    run = generate_run(tmp_path / "gen", n=200)
    out = tmp_path / "out"
    first = _start("filter", "--input", run, "--out", out, "--workers", "1", log=tmp_path / "first.log")
    try:
        _wait_for(tmp_path / "out.lock", first, tmp_path / "first.log")
        os.kill(first.pid, signal.SIGSTOP)  # it holds the lock, stopped: the overlap is certain
        second = process("filter", "--input", run, "--out", out, "--workers", "1", "--overwrite")
        one_line_error(second, 2, "is in use by factory.filter", f"pid {first.pid}")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()[-3000:]
    accepted = pq.ParquetDataset(out / "accepted").read()
    rejected = pq.ParquetDataset(out / "rejected").read()
    assert accepted.num_rows + rejected.num_rows == 200 and accepted.num_rows == 150
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out.lock").exists()


def test_two_generates_into_one_new_out_never_mix_settings(tiny_model, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(6))
    out = tmp_path / "run"
    base = ["--problems", problems, "--teacher", tiny_model, "--out", out, "--max-tokens", "32",
            "--max-model-len", TEST_MAX_MODEL_LEN, "--gpu-memory-utilization", TEST_MEMORY_FRACTION]
    first = _start("generate", *base, "--samples", "2", "--temperature", "0.6", log=tmp_path / "first.log")
    try:
        _wait_for(tmp_path / "run.lock", first, tmp_path / "first.log")
        os.kill(first.pid, signal.SIGSTOP)
        second = process("generate", *base, "--samples", "3", "--temperature", "1.0")
        one_line_error(second, 2, "is in use by factory.generate", f"pid {first.pid}")
        # another verb on the same folder is turned away by the same lock
        one_line_error(process("filter", "--input", problems, "--out", out, "--overwrite"), 2,
                       "is in use by factory.generate")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=400) == 0, (tmp_path / "first.log").read_text()[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    rows = pq.ParquetDataset(out / "traces").read(columns=["temperature", "sample"]).to_pylist()
    assert manifest["identity"]["temperature"] == 0.6 and len(manifest["runs"]) == 1
    assert {r["temperature"] for r in rows} == {0.6} and len(rows) == 12
    # settings are checked against the manifest after the lock: a rerun at 1.0 is refused
    one_line_error(process("generate", *base, "--samples", "2", "--temperature", "1.0"), 2, "temperature")


# -- 3. kill -9, a full disk, a read-only disk -------------------------------------------------------

def test_a_filter_killed_9_leaves_no_output_and_its_rerun_finishes(tmp_path):
    run = generate_run(tmp_path / "gen", n=400)
    out = tmp_path / "out"
    proc = _start("filter", "--input", run, "--out", out, "--workers", "1", log=tmp_path / "killed.log")
    try:
        _wait_for(tmp_path / "out.partial" / "accepted", proc, tmp_path / "killed.log")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists() and (tmp_path / "out.partial").exists()  # nothing half-written is called OUT
    again = process("filter", "--input", run, "--out", out, "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "check: 300 accepted + 100 rejected = 400 input rows" in again.stdout
    assert not (tmp_path / "out.partial").exists() and not (tmp_path / "out.lock").exists()


def _incompressible_run(folder: Path, n: int) -> Path:
    import base64

    w = ShardWriter(folder / "traces", trace_schema(), max_rows=n)
    for i in range(n):
        row = trace(i)
        row["reasoning"] = base64.b64encode(os.urandom(3000)).decode()
        row["completion"] = f"<think>\n{row['reasoning']}\n</think>\n\n{row['response']}"
        w.add(row)
    w.close()
    return folder


def test_a_full_disk_stops_the_filter_with_one_line_and_frees_its_partial_output(small_disk, tmp_path):
    run = _incompressible_run(tmp_path / "gen", n=600)  # ~2.4 MB of random text: more than the disk
    proc = process("filter", "--input", run, "--out", small_disk / "out", "--workers", "1")
    one_line_error(proc, 1, "No space left on device", "rerun")
    assert sorted(p.name for p in small_disk.iterdir()) in ([], ["out.log"])  # no partial output keeps it full


def test_a_full_disk_while_staging_empties_the_stage(filtered, small_disk, tmp_path):
    big = tmp_path / "big"
    run = _incompressible_run(tmp_path / "gen", n=600)
    assert verb("filter", "--input", run, "--out", big, "--workers", "1", "--config",
                _accept_all(tmp_path)).returncode == 0
    proc = process("publish", "--data", big, "--dry-run", "--stage", small_disk / "stage")
    one_line_error(proc, 1, "No space left on device", "rerun")
    assert [p.name for p in small_disk.iterdir() if p.name != "stage.log"] == []


def test_a_full_disk_stops_generate_keeping_its_finished_shards(tiny_model, tmp_path):
    disk = tmp_path / "tiny-disk"
    if not _mount(disk, "size=96k"):
        pytest.skip("needs permission to mount a tmpfs (root)")
    try:
        problems = write_jsonl(tmp_path / "p.jsonl", [
            {"id": f"p{i}", "problem": f"What is {i} + {i + 1}? Show every step of the sum.", "answer": str(2 * i + 1)}
            for i in range(150)])
        proc = process("generate", "--problems", problems, "--teacher", tiny_model, "--out", disk / "run",
                       "--samples", "2", "--max-tokens", "64", "--shard-rows", "20",
                       "--max-model-len", TEST_MAX_MODEL_LEN, "--gpu-memory-utilization", TEST_MEMORY_FRACTION)
        one_line_error(proc, 1, "No space left on device", str(disk / "run"), "rerun")
        shards = sorted((disk / "run" / "traces").iterdir())
        assert shards and all(p.suffix == ".parquet" for p in shards)  # whole shards only, no .tmp
        rows = pq.ParquetDataset(disk / "run" / "traces").read(columns=["problem_id", "sample"]).to_pylist()
        assert 0 < len(rows) < 300 and len({(r["problem_id"], r["sample"]) for r in rows}) == len(rows)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _accept_all(tmp_path: Path) -> Path:
    path = tmp_path / "accept-all.yaml"
    path.write_text("filters:\n  format: {}\n")
    return path


def test_a_read_only_output_folder_is_one_line_and_exit_2(read_only_disk, filtered, tiny_model, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    # generate as its own process: it used to crash inside its own log handler here
    one_line_error(process("generate", "--problems", problems, "--teacher", tiny_model, "--samples", "1",
                           "--out", read_only_disk / "run"), 2, "Read-only file system", str(read_only_disk))
    for name, args in (("filter", ["--input", filtered, "--out", read_only_disk / "out"]),
                       ("publish", ["--data", filtered, "--dry-run", "--stage", read_only_disk / "stage"])):
        one_line_error(verb(name, *args), 2, "Read-only file system", str(read_only_disk))
    assert list(read_only_disk.iterdir()) == []


# -- 4. bad input: one line, exit 2, nothing written --------------------------------------------------

def test_truncated_teacher_weights_are_one_line_and_nothing_is_written(tiny_model, tmp_path):
    import shutil

    broken = tmp_path / "teacher"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    proc = process("generate", "--problems", problems, "--teacher", broken, "--out", tmp_path / "run", "--samples", "1",
                "--max-model-len", TEST_MAX_MODEL_LEN, "--gpu-memory-utilization", TEST_MEMORY_FRACTION)
    one_line_error(proc, 2, "cannot start vLLM on", "incomplete metadata")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.lock").exists()


def test_evaluate_with_a_missing_model_is_one_line(tmp_path):
    proc = verb("evaluate", "--model", tmp_path / "no" / "such" / "model", "--out", tmp_path / "eval")
    one_line_error(proc, 2, "--model", "no such folder")
    assert not (tmp_path / "eval").exists()


def test_an_invalid_repo_id_is_refused_before_anything_is_staged(filtered, tmp_path):
    for repo in ("me/bad name", "me/--x", "a/b/c", "me/x.git", "-me/x"):
        one_line_error(verb("publish", "--data", filtered, f"--repo-id={repo}", "--stage", tmp_path / "stage"), 2,
                       "--repo-id")
    assert not (tmp_path / "stage").exists()


# -- 5. the card says what the rows say -------------------------------------------------------------

def _copy(folder: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(folder, to)
    return to


def test_the_card_is_counted_from_the_rows_not_trusted_from_stats_json(filtered, tmp_path):
    edited = _copy(filtered, tmp_path / "edited")
    stats = json.loads((edited / "stats.json").read_text())
    stats["accepted"] = 799
    (edited / "stats.json").write_text(json.dumps(stats))
    one_line_error(verb("publish", "--data", edited, "--dry-run", "--stage", tmp_path / "s1"), 2,
                   "stats.json says 799 of 40", "holds 30 accepted of 40")
    del stats["funnel"]
    (edited / "stats.json").write_text(json.dumps(stats))
    one_line_error(verb("publish", "--data", edited, "--dry-run", "--stage", tmp_path / "s2"), 2,
                   "stats.json: no 'funnel'")
    # a shard removed from accepted/ after the filter ran: the rows disagree with stats.json
    fewer = _copy(filtered, tmp_path / "fewer")
    shards = sorted((fewer / "rejected").glob("*.parquet"))
    shards[0].unlink()
    one_line_error(verb("publish", "--data", fewer, "--dry-run", "--stage", tmp_path / "s3"), 2,
                   "changed after `factory.filter` wrote it")
    assert not any((tmp_path / s).exists() for s in ("s1", "s2", "s3"))


def test_the_card_names_no_local_path_even_when_the_input_has_moved(tmp_path):
    import shutil

    from factory import filter as filter_cli

    run = generate_run(tmp_path / "somewhere" / "private" / "gen")
    assert filter_cli.main(["--input", str(run), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    shutil.move(tmp_path / "somewhere", tmp_path / "elsewhere")  # the input is gone from where it was
    proc = verb("publish", "--data", tmp_path / "out", "--dry-run", "--stage", tmp_path / "stage")
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = (tmp_path / "stage" / "README.md").read_text()
    assert str(tmp_path) not in card and "private" not in card and "/home/someone" not in card
    assert "teacher@0123456789ab" in card and "Please reason step by step." in card  # provenance kept
    assert "| 30 |" in card.replace(",", "") or "30 chain-of-thought traces kept out of 40" in card


def test_a_jsonl_column_of_mixed_types_filters_and_publishes_as_written(tmp_path):
    rows = [trace(i) for i in range(8)]
    rows[1]["answer"] = 3                               # a number where the others are text
    rows[2]["answer"] = "\\frac{10}{2}"                 # LaTeX text
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    assert verb("filter", "--input", src, "--out", tmp_path / "out", "--workers", "1").returncode == 0
    table = pq.ParquetDataset(tmp_path / "out" / "accepted").read()
    assert table.schema.field("answer").type == pa.string()
    answers = set(table.column("answer").to_pylist()) | set(
        pq.ParquetDataset(tmp_path / "out" / "rejected").read().column("answer").to_pylist())
    assert "3" in answers and "\\frac{10}{2}" in answers
    proc = verb("publish", "--data", tmp_path / "out", "--dry-run", "--stage", tmp_path / "stage")
    assert proc.returncode == 0 and "round-trip ok" in proc.stdout, proc.stderr[-3000:]
