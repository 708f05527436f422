"""GPQA Diamond (Rein et al., 2023): 198 four-option graduate science questions, scored the way
simple-evals does (the R1 paper evaluates GPQA Diamond with simple-evals' prompts).

Source: the Hub dataset `Idavidrein/gpqa`, file `gpqa_diamond.csv`. It is gated: accept its terms on
its Hub page while logged in, then log in here (`hf auth login`, or HF_TOKEN). Or a local copy
(`--benchmarks gpqa_diamond=FILE`: .csv, .jsonl or .parquet) with its columns: `Question`,
`Correct Answer`, `Incorrect Answer 1`-`3`, and `Record ID` (a hash of the question where absent).

Each question is shown k times (k = the benchmark's samples), each time with its options in an
order drawn from (shuffle seed, Record ID, sample index): reproducible from the seed and
independent of the file's order or --limit (simple-evals draws one stream from Random(0), which
depends on both). Each showing is one problem row, sampled once:

  id           RECORD#i
  item_id      RECORD (the scores group the k showings of a question)
  problem      the question and its options as "A) …" lines (generators/templates/choice.txt asks
               for a last line "Answer: $LETTER")
  answer       the letter the correct option landed on
  choices      the options in the order shown (JSON), so a vote is on the option, not the letter
  permutation  where each shown option came from (0: the correct answer)
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import Iterator

from factory.core.errors import InputError
from factory.core.inputs import hub_file
from factory.core.layout import data_files
from factory.core.problems import content_id, iter_records

HUB_REPO = "Idavidrein/gpqa"
HUB_FILE = "gpqa_diamond.csv"
OPTIONS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
COLUMNS = ("Question",) + OPTIONS
LETTERS = "ABCD"
CARRIED = {"Subdomain": "subdomain", "High-level domain": "high_level_domain"}


def sniff(record: dict) -> bool:
    return all(c in record for c in COLUMNS)


def first_csv_record(path: Path) -> dict | None:
    for _, record in _csv_records(path):
        return record
    return None


def _csv_records(path: Path) -> Iterator[tuple[str, dict]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            start = 2
            for record in reader:
                yield f"{path}:{start}", record
                start = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 (byte offset {e.start}); re-encode the file as UTF-8") from None
    except csv.Error as e:
        raise InputError(f"{path}: not a readable CSV file ({e})") from None


def records(source: str, hub: bool) -> Iterator[tuple[str, dict]]:
    """(where, record) of every question: the Hub file, or a local file or folder."""
    if hub:
        yield from _csv_records(hub_file(source, HUB_FILE, what="gpqa_diamond",
                                         local_flag="--benchmarks gpqa_diamond=FILE.csv"))
        return
    path = Path(source)
    for f in ([path] if path.is_file() else data_files(path) + sorted(path.glob("*.csv"))):
        yield from (_csv_records(f) if f.suffix.lower() == ".csv" else iter_records(f))


def permutation(seed: int, record_id: str, sample: int) -> list[int]:
    """The order the options of one showing appear in (indexes into OPTIONS; 0 is the correct one)."""
    return random.Random(f"{seed}:{record_id}:{sample}").sample(range(len(OPTIONS)), len(OPTIONS))


def shown(question: str, options: list[str]) -> str:
    return question.strip() + "\n\n" + "\n".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(options))


def _options(where: str, record: dict) -> list[str]:
    missing = [c for c in COLUMNS if c not in record]
    if missing:
        raise InputError(f"{where}: a GPQA row needs the columns {', '.join(COLUMNS)}; missing "
                         f"{', '.join(missing)} (columns present: {', '.join(sorted(record)) or 'none'})")
    empty = [c for c in COLUMNS if not isinstance(record[c], str) or not record[c].strip()]
    if empty:
        raise InputError(f"{where}: GPQA column {empty[0]!r} is empty or not text (got {record[empty[0]]!r})")
    return [record[c].strip() for c in OPTIONS]


def load(bench, *, samples: int, seed: int = 0, limit: int | None = None, **_) -> list[dict]:
    """The problem rows of every question (k = `samples` showings each; see the module docstring)."""
    rows, first_seen = [], {}
    for where, record in records(bench.source, bench.hub):
        options = _options(where, record)
        rid = str(record.get("Record ID") or "").strip() or content_id(record["Question"])
        if rid in first_seen:
            raise InputError(f"{where}: duplicate Record ID {rid!r}, first seen at {first_seen[rid]}")
        first_seen[rid] = where
        extra = {ours: record.get(theirs) for theirs, ours in CARRIED.items() if record.get(theirs) is not None}
        for i in range(samples):
            order = permutation(seed, rid, i)
            rows.append({"id": f"{rid}#{i}", "item_id": rid, "domain": "choice",
                         "problem": shown(record["Question"], [options[j] for j in order]),
                         "answer": LETTERS[order.index(0)], "permutation": order,
                         "choices": json.dumps([options[j] for j in order], ensure_ascii=False), **extra})
        if limit is not None and len(first_seen) >= limit:
            break
    if not rows:
        raise InputError(f"{bench.source}: no GPQA questions found (the input is empty)")
    return rows
