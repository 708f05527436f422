"""Hostile programs in the sandbox: each case asserts the host is unharmed."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from filters.code import CodeTestsFilter, last_program, parse_tests, same_output
from filters.sandbox import Limits, bwrap_works, isolation, run_program

FAST = Limits(wall_seconds=4, cpu_seconds=3, memory_mb=512)


def test_isolation_is_bubblewrap_here():
    # The Makefile installs bubblewrap; without it the filter still runs, with a loud warning.
    assert bwrap_works(), isolation()
    assert isolation().startswith("bubblewrap")


def test_a_correct_program_reads_stdin_and_prints():
    r = run_program("a, b = map(int, input().split())\nprint(a + b)", "2 3\n", FAST)
    assert (r.status, r.stdout) == ("ok", "5\n")


def test_infinite_loop_is_killed_at_the_wall_clock_limit():
    t = time.monotonic()
    r = run_program("while True:\n    pass", "", Limits(wall_seconds=2, cpu_seconds=30))
    assert r.status == "timeout" and time.monotonic() - t < 6


def test_fork_bomb_is_capped_and_leaves_no_process_behind():
    code = ("import os, time\nn = 0\nfor _ in range(10_000):\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\n    except OSError:\n        break\n"
            "print(n)")
    r = run_program(code, "", FAST)
    assert r.status == "ok" and int(r.stdout) < FAST.processes
    time.sleep(0.5)
    stray = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).endswith("main.py")]
    assert not stray  # the pid namespace took its children down with it


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_memory_bomb_hits_the_address_space_limit():
    r = run_program("x = bytearray(8 * 1024 ** 3)\nprint(len(x))", "", FAST)
    assert r.status == "memory"


def test_writing_outside_the_sandbox_fails(tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # even a world-writable host folder is out of reach
    r = run_program(f"open({str(target)!r}, 'w').write('owned')\nprint('wrote')", "", FAST)
    assert r.status == "crash" and not target.exists()
    r = run_program("open('/tmp/planted', 'w').write('x')\nprint('ok')", "", FAST)  # its own private /tmp
    assert r.status == "ok" and not os.path.exists("/tmp/planted")


def test_secrets_in_the_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_sandbox")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET")
    r = run_program("import os\nprint(sorted(os.environ))\nprint(os.environ.get('HF_TOKEN'))", "", FAST)
    assert r.status == "ok" and "SECRET" not in r.stdout and "HF_TOKEN" not in r.stdout


def test_no_network_not_even_the_hosts_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    r = run_program(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('in')",
                    "", FAST)
    server.close()
    assert r.status == "crash" and "in" not in r.stdout and not accepted


def test_killing_its_parent_does_not_reach_the_host():
    me = os.getpid()
    # The host's pid first, its answer flushed: killing its own parent may end the program at once
    # (bubblewrap dies with its parent), and on a loaded machine before a buffered line got out.
    r = run_program(f"import os, signal\nfor pid in ({me}, os.getppid()):\n    try:\n"
                    "        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n"
                    "        print('denied', pid, flush=True)\n", "", FAST)
    assert os.getpid() == me  # still here
    assert f"denied {me}" in r.stdout  # the host's pids are not even visible


def test_stdout_spam_is_cut_off_fast():
    t = time.monotonic()
    r = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", "", FAST)
    assert r.status == "output_limit" and len(r.stdout) <= FAST.output_kb * 1024, (r.returncode, len(r.stdout), r.stderr)
    assert time.monotonic() - t < 4


@pytest.mark.parametrize("response, tests, reason", [
    ("Here:\n```python\nprint(int(input()) * 2)\n```", [{"input": "4\n", "output": "8\n"}], None),
    ("```python\nprint(1)\n```\nfinal:\n```python\nprint(int(input()) + 1)\n```",
     '[{"input": "1", "output": "2"}, {"input": "5", "output": "6  \\n"}]', None),  # JSON string, trailing spaces
    ("```python\nprint(int(input()) + 2)\n```", [{"input": "1", "output": "3"}, {"input": "2", "output": "5"}],
     "failed_test_1"),
    ("no code at all", [{"input": "", "output": ""}], "no_code"),
    ("```python\nprint(1)\n```", None, "no_tests"),
    ("```python\nwhile True: pass\n```", [{"input": "", "output": ""}], "timeout"),
    ("```python\nraise SystemExit(3)\n```", [{"input": "", "output": ""}], "crash"),
    ("```python\nx = bytearray(8 * 1024 ** 3)\n```", [{"input": "", "output": ""}], "memory"),
])
def test_code_filter_verdicts(response, tests, reason):
    f = CodeTestsFilter(wall_seconds=3, cpu_seconds=2, memory_mb=512)
    assert f.reject({"domain": "code", "response": response, "tests": tests}) == reason


def test_helpers_and_math_rows_pass_through():
    assert last_program("```py\na\n```\n```python\nb\n```") == "b\n"
    assert parse_tests('[{"input": "1"}]') is None and parse_tests("not json") is None
    assert same_output("1 \n2\n\n", "1\n2")
    assert CodeTestsFilter().reject({"domain": "math", "response": "no code"}) is None
