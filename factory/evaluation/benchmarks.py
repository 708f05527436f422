"""What a benchmark is: a name, the kind of answer it is graded on, and where its problems come from.

Kinds (`KINDS`, one name → module map):
  answer   a final answer: maths (MATH-500, AIME 2024 …: the shipped files, any problem file, a Hub
           id) and general replies (`lab_general`); the source is read as generate reads problems
  choice   multiple choice with options shuffled per sample: GPQA Diamond (factory/evaluation/gpqa.py)
  code     a program run against the problem's tests in the sandbox: LiveCodeBench
           (factory/evaluation/livecodebench.py)

A spec on the command line is one of
  NAME          a shipped file (factory/data/benchmarks/NAME.jsonl) or a known Hub benchmark
                (`gpqa_diamond`, `livecodebench`: `KNOWN`)
  NAME=SOURCE   a known benchmark read from a local file or folder, or another Hub repo
  PATH          a local file, its kind read from its columns (GPQA's or LiveCodeBench's, else answer)
  ORG/NAME      a Hub dataset of maths problems
A choice or code benchmark is converted into problem rows (its loader) and written to
OUT/benchmarks/NAME.jsonl, which the generate run reads; an answer benchmark is read as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from factory.core.errors import InputError
from factory.core.inputs import looks_like_hub_id
from factory.core.layout import BENCHMARKS_DIR
from factory.core.problems import iter_records
from factory.core.shards import atomic_write_bytes
from factory.evaluation import gpqa, livecodebench

KINDS = {"choice": gpqa, "code": livecodebench}   # "answer" needs no loader
KNOWN = {"gpqa_diamond": "choice", "livecodebench": "code"}   # read from their Hub repos by default


@dataclass(frozen=True)
class Benchmark:
    name: str        # the results' key (and the R1 paper's column: factory/evaluation/paper.py)
    kind: str        # answer | choice | code
    source: str      # a file or folder, or a Hub repo id
    hub: bool = False

    @property
    def prepared(self) -> bool:
        """Converted into problem rows before sampling (OUT/benchmarks/NAME.jsonl)."""
        return self.kind in KINDS


def shipped_benchmarks() -> list[str]:
    return sorted(p.stem for p in BENCHMARKS_DIR.glob("*.jsonl"))


def resolve(spec: str) -> Benchmark:
    """The benchmark a command-line spec names (see the module docstring); InputError when none."""
    name, eq, source = spec.partition("=")
    if eq:
        if name not in KNOWN:
            raise InputError(f"--benchmarks {spec}: NAME=SOURCE is for {', '.join(KNOWN)}; "
                             f"give another file as its path")
        return _from_source(name, KNOWN[name], source)
    if (BENCHMARKS_DIR / f"{spec}.jsonl").is_file():
        path = BENCHMARKS_DIR / f"{spec}.jsonl"
        return Benchmark(spec, sniff(path), str(path))
    if spec in KNOWN:
        module = KINDS[KNOWN[spec]]
        return Benchmark(spec, KNOWN[spec], module.HUB_REPO, hub=True)
    path = Path(spec)
    if path.exists():
        return Benchmark(path.stem, sniff(path), str(path))
    if looks_like_hub_id(spec):
        return Benchmark(spec.replace("/", "__"), "answer", spec)
    raise InputError(f"unknown benchmark {spec!r}; shipped: {', '.join(shipped_benchmarks())}; from the Hub: "
                     f"{', '.join(KNOWN)} (or give a .jsonl/.parquet path, NAME=FILE, or a Hub dataset id)")


def _from_source(name: str, kind: str, source: str) -> Benchmark:
    if not source.strip():
        raise InputError(f"--benchmarks {name}=: give a file (or a Hub repo id) after the =")
    path = Path(source)
    if path.exists():
        return Benchmark(name, kind, str(path))
    if looks_like_hub_id(source):
        return Benchmark(name, kind, source, hub=True)
    raise InputError(f"--benchmarks {name}={source}: no such file or folder (and not a Hub repo id like org/name)")


def sniff(path: Path) -> str:
    """A local file's kind, from the columns of its first record."""
    first = _first_record(path)
    for kind, module in KINDS.items():
        if first is not None and module.sniff(first):
            return kind
    return "answer"


def _first_record(path: Path) -> dict | None:
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    for f in files:
        if f.suffix.lower() == ".csv":
            return gpqa.first_csv_record(f)
        try:
            for _, record in iter_records(f):
                return record
        except InputError:
            continue   # not a data file; the loader that reads it says what is wrong
    return None


def problem_rows(bench: Benchmark, **options) -> list[dict]:
    """The problem rows of a choice or code benchmark (its loader, with the options it takes)."""
    return KINDS[bench.kind].load(bench, **options)


def write_problems(path: Path, rows: list[dict]) -> None:
    """The converted benchmark, one JSON object per line; left untouched when it already holds
    exactly these rows (a resumed evaluation reads the same file)."""
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
