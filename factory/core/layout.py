"""The run folders the verbs write and read, named in one place.

  generate run   OUT/manifest.json, OUT/traces/shard-*.parquet
  filter run     OUT/accepted/*.parquet, OUT/rejected/*.parquet, OUT/stats.json,
                 OUT/problems.parquet, OUT/funnel.png (and OUT/hard/*.parquet with --hard-subset)
  mixture        OUT/mixture.json, OUT/rows.parquet, OUT/train/*.parquet (and OUT/test/, and
                 OUT/sources/ for the sources read through `datasets`): students/mixture.py
  benchmarks     factory/data/benchmarks/<name>.jsonl (evaluation and decontamination)

`data_files` is how every stage reads "a run folder, a folder of files, or a file":
a filter run means its accepted traces, a generate run its traces, a mixture its train split. What counts as a data
file (`DATA_SUFFIXES`, `data_suffix`) and what is refused rather than skipped
(`unread_reason`) is decided here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.errors import InputError

TRACES = "traces"
ACCEPTED = "accepted"
REJECTED = "rejected"
HARD = "hard"          # a filter run's hard subset (--hard-subset): the accepted rows in the difficulty band
MANIFEST = "manifest.json"
STATS = "stats.json"
PROBLEMS = "problems.parquet"
FUNNEL = "funnel.png"
MIXTURE = "mixture.json"     # a built mixture's manifest; its rows in TRAIN/ and TEST/, which rows in MIXTURE_ROWS
TRAIN = "train"
TEST = "test"
MIXTURE_ROWS = "rows.parquet"
SOURCES = "sources"          # a mixture's copies of the sources read through `datasets` (Hub ids, JSON)
BENCHMARKS_DIR = Path(__file__).resolve().parent.parent / "data" / "benchmarks"
# What the factory reads, matched against the end of a file's name (any case): Parquet, JSON lines,
# JSON lists, and the JSON ones gzip-compressed. Every reader matches names through `data_suffix`.
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".json.gz")
_PLAIN = (".parquet", ".jsonl", ".json")
# Files that hold rows the factory does not read: refused by name rather than skipped, so that no
# row is silently lost. Anything else in a folder (README.md, notes.txt, x.lock, x.log, dotfiles,
# a shard still being written, shard-000003.parquet.tmp) is not data and is passed over.
_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".xz": "xz", ".lzma": "lzma",
                ".bz2": "bzip2", ".lz4": "lz4", ".br": "brotli", ".snappy": "snappy", ".z": "compress"}
_OTHER_FORMATS = {".csv": "CSV", ".tsv": "TSV", ".arrow": "Arrow IPC", ".feather": "Feather", ".orc": "ORC",
                  ".avro": "Avro", ".xlsx": "Excel", ".xls": "Excel"}
_JSONL_NAMES = (".ndjson", ".jsonlines")
_ARCHIVES = (".zip", ".tar", ".tgz", ".7z", ".rar")


def is_generate_run(path: Path) -> bool:
    return (path / MANIFEST).is_file() and (path / TRACES).is_dir()


def is_filter_run(path: Path) -> bool:
    return (path / ACCEPTED).is_dir() and (path / STATS).is_file()


def is_mixture(path: Path) -> bool:
    return (path / MIXTURE).is_file() and (path / TRAIN).is_dir()


def data_suffix(path: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> str | None:
    """Which of `suffixes` the name of `path` ends with, in any case (the longest: '.jsonl.gz' for
    a.JSONL.GZ), or None."""
    name = path.name.lower()
    return max((s for s in suffixes if name.endswith(s) and len(name) > len(s)), key=len, default=None)


def unread_reason(path: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> str | None:
    """Why `path` looks like data but is not read by a reader of `suffixes` (words to follow its name),
    or None: it is read, or it is not data at all."""
    known = data_suffix(path)
    if known:
        return None if known in suffixes else f"{known} files are not read here; use {', '.join(suffixes)}"
    stem, ext = _split(path.name.lower())
    inner = _split(stem)[1]
    if ext in _ARCHIVES or (ext in _COMPRESSION and inner == ".tar"):
        return "an archive, which is not read; extract it"
    if ext in _COMPRESSION and inner == ".parquet":
        return f"compressed with {_COMPRESSION[ext]}, which is not read; decompress it (Parquet compresses itself)"
    if ext in _COMPRESSION and inner in _PLAIN:
        gz = f" or use {inner}.gz" if f"{inner}.gz" in suffixes else ""
        return f"compressed with {_COMPRESSION[ext]}, which is not read; decompress it{gz}"
    how = ""
    if ext in _COMPRESSION:
        ext, how = inner, f" compressed with {_COMPRESSION[ext]}"
    if ext in _JSONL_NAMES:
        return f"JSON lines named {ext}{how}, which is not read; name it .jsonl (or .jsonl.gz)"
    if ext in _OTHER_FORMATS:
        return f"{_OTHER_FORMATS[ext]}{how}, which is not read; convert it to {', '.join(suffixes)}"
    return None


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def data_files(path: Path, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> list[Path]:
    """The data files `path` stands for, sorted; an InputError when there are none, or when a file
    of a folder looks like data that is not read (x.jsonl.zst, x.csv): refused, never skipped.
    Dotfiles and dot-folders are passed over, and so are .json files beside a reader of Parquet
    only (metadata there: manifest.json, stats.json, dataset_info.json)."""
    if is_filter_run(path):
        path = path / ACCEPTED
    elif is_generate_run(path):
        path = path / TRACES
    elif is_mixture(path):
        path = path / TRAIN
    if path.is_dir():
        files = []
        for p in sorted(path.rglob("*")):
            if not p.is_file() or any(part.startswith(".") for part in p.relative_to(path).parts):
                continue
            if data_suffix(p, suffixes):
                files.append(p)
            elif (reason := unread_reason(p, suffixes)) and not (
                    data_suffix(p, (".json", ".json.gz")) and ".jsonl" not in suffixes):
                raise InputError(f"{p}: {reason}")
        if not files:
            raise InputError(f"{path}: folder holds no {', '.join(suffixes)} files")
        return files
    if not data_suffix(path, suffixes):
        raise InputError(f"{path}: " + (unread_reason(path, suffixes) or
                                        f"unsupported file type {path.suffix!r}; use {', '.join(suffixes)}"))
    return [path]
