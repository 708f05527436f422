"""`make demo`: the factory's main job on embedded defaults, on this machine.

Builds a tiny random-weight teacher locally (no downloads), then samples R1
traces for the bundled problems into runs/demo through the in-process vLLM
engine, exactly as `python -m factory.generate` does with a real teacher:

  python -m factory.demo [--out runs/demo]

A random-weight model writes noise, so most traces run to the token limit;
the point is the real pipeline end to end (prompts, engine, shards, manifest,
resume). Rerunning resumes: nothing is generated twice.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEMO_PROBLEMS = Path(__file__).parent / "data" / "demo_problems.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--teacher-dir", type=Path, default=Path("runs/tiny-teacher"))
    args = parser.parse_args(argv)

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # the demo's own output first
    from factory import generate
    from factory.tiny_model import build_tiny_model

    teacher = build_tiny_model(args.teacher_dir)
    code = generate.main(["--problems", str(DEMO_PROBLEMS), "--teacher", str(teacher), "--out", str(args.out),
                          "--samples", "4", "--max-tokens", "256", "--max-model-len", "1024"])
    if code == 0:
        import pyarrow.parquet as pq

        row = pq.read_table(sorted((args.out / "traces").glob("*.parquet"))[0]).slice(0, 1).to_pylist()[0]
        print(f"\nfirst trace ({row['problem_id']}, sample {row['sample']}, {row['finish_reason']}):")
        print(f"  prompt:     {row['prompt'][:120]!r}")
        print(f"  completion: {row['completion'][:120]!r}…")
        print(f"\ntraces in {args.out}/traces, manifest in {args.out}/manifest.json")
    return code


if __name__ == "__main__":
    sys.exit(main())
