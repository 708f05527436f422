"""The run folders the verbs write and read, named in one place.

  generate run   OUT/manifest.json, OUT/traces/shard-*.parquet
  filter run     OUT/accepted/*.parquet, OUT/rejected/*.parquet, OUT/stats.json,
                 OUT/problems.parquet, OUT/funnel.png
  benchmarks     factory/data/benchmarks/<name>.jsonl (evaluation and decontamination)

`data_files` is how every stage reads "a run folder, a folder of files, or a file":
a filter run means its accepted traces, a generate run its traces.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.errors import InputError

TRACES = "traces"
ACCEPTED = "accepted"
REJECTED = "rejected"
MANIFEST = "manifest.json"
STATS = "stats.json"
PROBLEMS = "problems.parquet"
FUNNEL = "funnel.png"
BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "data" / "benchmarks"
DATA_SUFFIXES = (".parquet", ".jsonl", ".json")


def is_generate_run(path: Path) -> bool:
    return (path / MANIFEST).is_file() and (path / TRACES).is_dir()


def is_filter_run(path: Path) -> bool:
    return (path / ACCEPTED).is_dir() and (path / STATS).is_file()


def data_files(path: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[Path]:
    """The data files `path` stands for, sorted; an InputError when there are none."""
    if is_filter_run(path):
        path = path / ACCEPTED
    elif is_generate_run(path):
        path = path / TRACES
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
        if not files:
            raise InputError(f"{path}: folder holds no {', '.join(suffixes)} files")
        return files
    if path.suffix not in suffixes:
        raise InputError(f"{path}: unsupported file type {path.suffix!r}; use {', '.join(suffixes)}")
    return [path]
