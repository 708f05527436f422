"""Code verification throughput: programs verified per second, and what the sandbox costs.

Each run executes a small accepted program on one test input, three ways:
  bare      `python3 main.py` in a subprocess: no isolation (the floor)
  limits    the same under setpriv + rlimits (the fallback without bubblewrap)
  sandbox   the factory's sandbox: setpriv + rlimits + bubblewrap namespaces
and the whole code filter (`code_tests`) verifying traces with 3 tests each,
sequentially and with one worker per core.

    python bench/sandbox.py [--runs 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402

PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"


def _bare(work: str) -> None:
    subprocess.run(["/usr/bin/python3", "-I", "main.py"], input=b"2 3\n", cwd=work, capture_output=True, check=True)


def _verify(i: int) -> str | None:
    from filters.code import CodeTestsFilter

    tests = [{"input": f"{i} {j}\n", "output": f"{i + j}\n"} for j in range(3)]
    return CodeTestsFilter().reject({"domain": "code", "response": f"```python\n{PROGRAM}```", "tests": tests})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=60)
    args = ap.parse_args()
    print(cpu_line(), flush=True)

    from filters import sandbox
    from filters.sandbox import Limits, run_program

    print(sandbox.isolation())
    work = tempfile.mkdtemp()
    Path(work, "main.py").write_text(PROGRAM)
    times: dict[str, list[float]] = {"bare": [], "limits": [], "sandbox": []}
    real_bwrap = sandbox.bwrap_works
    for _ in range(args.runs):  # interleaved, so machine noise hits all three alike
        t = time.perf_counter()
        _bare(work)
        times["bare"].append(time.perf_counter() - t)
        for name, use_bwrap in (("limits", False), ("sandbox", True)):
            sandbox.bwrap_works = (lambda: use_bwrap) if not use_bwrap else real_bwrap
            t = time.perf_counter()
            r = run_program(PROGRAM, "2 3\n", Limits())
            times[name].append(time.perf_counter() - t)
            assert r.status == "ok" and r.stdout == "5\n", r
    sandbox.bwrap_works = real_bwrap

    print(f"\none program run ({args.runs} runs each, interleaved):")
    print(f"{'path':<10}{'median ms':>11}{'p90 ms':>9}{'runs/s':>9}{'overhead vs bare':>18}")
    bare = statistics.median(times["bare"])
    for name, ts in times.items():
        med = statistics.median(ts)
        p90 = sorted(ts)[int(0.9 * len(ts))]
        print(f"{name:<10}{1e3 * med:>11.1f}{1e3 * p90:>9.1f}{1 / med:>9.1f}{1e3 * (med - bare):>15.1f} ms")

    n = max(8, args.runs // 3)
    t = time.perf_counter()
    assert all(_verify(i) is None for i in range(n))
    seq = n / (time.perf_counter() - t)
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_verify, range(2)))  # start the workers
        t = time.perf_counter()
        assert all(v is None for v in pool.map(_verify, range(n)))
        par = n / (time.perf_counter() - t)
    print(f"\ncode filter, traces with 3 tests each: {seq:.1f} traces/s sequential, {par:.1f} traces/s "
          f"with {workers} workers ({3 * par:.1f} sandboxed programs/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
