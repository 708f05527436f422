"""`python -m factory.generate`: bad input → clear message, exit code 2, nothing written."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from conftest import ROOT, make_problems, python_cmd, write_jsonl
from factory import generate
from factory.lab import demo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def good(tmp_path):
    return write_jsonl(tmp_path / "good.jsonl", make_problems(2))


CASES = {
    "malformed": (b'{"problem": "a"}\n{"problem": \n', r"bad.jsonl:2: malformed JSON"),
    "utf8": (b'{"problem": "\xff\xfe"}\n', r"bad.jsonl:1: not valid UTF-8"),
    "missing": (b'{"id": 1, "text": "a"}\n', r"bad.jsonl:1: missing problem field 'problem' \(fields present: id, text"),
    "empty": (b'{"problem": ""}\n', r"bad.jsonl:1: problem field 'problem' is empty"),
    "dup": (b'{"id": "a", "problem": "x"}\n{"id": "a", "problem": "y"}\n', r"bad.jsonl:2: duplicate id 'a', first seen at .*bad.jsonl:1"),
    # chat data: the conversation's faults, named by file and line
    "no-user": (b'{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [{"role": "assistant", "content": "x"}]}\n',
                r"bad.jsonl:2: the conversation has no user turn"),
    "order": (b'{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}\n',
              r"bad.jsonl:1: messages\[1\] is 'user' where 'assistant' was due"),
    "empty-chat": (b'{"messages": []}\n', r"bad.jsonl:1: messages is an empty conversation"),
    "cot-type": (b'{"prompt": "hello", "response": "hi", "cot": "no"}\n', r"bad.jsonl:1: cot must be true or false"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_problem_files_exit_2_and_write_nothing(case, tiny_model, tmp_path, capsys):
    content, message = CASES[case]
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    out = tmp_path / "out"
    code = generate.main(["--problems", str(bad), "--teacher", str(tiny_model), "--out", str(out)])
    assert code == 2
    import re
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--samples", "0"], "--samples must be at least 1"),
    (["--top-p", "1.5"], "--top-p must be in"),
    (["--engine-args", "{oops"], "--engine-args is not valid JSON"),
    (["--general-mode", "rewrite"], "--general-mode must be one of explain, answer"),
    (["--no-cot-pattern", "(hello"], "--no-cot-pattern is not a regular expression"),
    (["--no-cot-words", "-1"], "--no-cot-words must be 0 (off) or more"),
])
def test_bad_flags_exit_2(argv, message, good, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    assert generate.main(["--problems", str(good), "--teacher", str(tiny_model), "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unloadable_teacher_exits_2(good, tmp_path, capsys):
    out = tmp_path / "out"
    assert generate.main(["--problems", str(good), "--teacher", str(tmp_path / "no-model"), "--out", str(out)]) == 2
    assert "cannot load the tokenizer" in capsys.readouterr().err
    assert not out.exists()


def test_unreachable_endpoint_list_exits_2_naming_each(good, tiny_model, tmp_path):
    out = tmp_path / "out"
    ports = [_free_port(), _free_port()]
    endpoints = ",".join(f"http://127.0.0.1:{p}" for p in ports)
    t = time.monotonic()
    proc = subprocess.run(python_cmd("-m", "factory.generate", "--problems", str(good), "--teacher",
                                     str(tiny_model), "--out", str(out), "--endpoints", endpoints),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no endpoint answered GET /v1/models" in proc.stderr
    for p in ports:
        assert f"127.0.0.1:{p}/v1: ConnectError" in proc.stderr
    assert not out.exists()
    assert time.monotonic() - t < 60  # no engine was started


def test_endpoint_that_is_not_a_url_exits_2(good, tiny_model, tmp_path, capsys):
    assert generate.main(["--problems", str(good), "--teacher", str(tiny_model), "--out", str(tmp_path / "o"),
                          "--endpoints", "ftp://x"]) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["generate", "filter", "publish", "train_student", "evaluate", "demo"])
def test_help_is_instant_and_has_a_usage_example(verb):
    """Every verb's --help prints (a bare `%` in a flag's help once crashed argparse's formatting)."""
    t = time.monotonic()
    proc = subprocess.run(python_cmd("-m", f"factory.{verb}", "--help"), cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"python -m factory.{verb}" in proc.stdout and "--verbose" in proc.stdout
    if verb == "generate":
        assert "python -m factory.generate --problems" in proc.stdout
    assert time.monotonic() - t < 10  # heavy imports (vllm, torch) are lazy


@pytest.mark.parametrize("args, says", [
    (["--samples", "0"], "--samples must be at least 1"),
    (["--teacher-eval-samples", "0"], "--teacher-eval-samples must be at least 1"),
    (["--backend", "farm"], "--backend farm needs --endpoints"),
    (["--endpoints", "http://127.0.0.1:9", "--backend", "engine"], "two different teachers"),
    (["--general-share", "1"], "--general-share must be in [0, 1)"),
])
def test_demo_bad_flags_are_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, says):
    """The demo checks every value it hands to generate and evaluate when its flags are parsed."""
    assert demo.main([*args, "--run", str(tmp_path / "lab")]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("error:") == 1 and "Traceback" not in err
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize("content, message", [
    (b'{"max_num_seqs": 64\n"x": 1}', ":2: not valid JSON"),
    (b"\xff{}", "cannot be read"),
    (b"[64]", "must be a JSON object"),
])
def test_a_bad_engine_args_file_is_named(content, message, good, tiny_model, tmp_path, capsys):
    args, out = tmp_path / "engine-args.json", tmp_path / "out"
    args.write_bytes(content)
    assert generate.main(["--problems", str(good), "--teacher", str(tiny_model), "--out", str(out),
                          "--engine-args", str(args)]) == 2
    err = capsys.readouterr().err
    assert str(args) in err and message in err
    assert not out.exists()
