"""The input readers (factory/core/inputs.py, layout's suffix rules, filters/source.py, the problem
and student readers): which files are read, which are refused by name, and what a damaged one says."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory.core.errors import InputError
from factory.core.inputs import looks_like_hub_id, parquet_batches, resolve
from factory.core.layout import DATA_SUFFIXES, data_files, data_suffix
from filters.source import TraceSource
from factory.core.problems import load_problems


def trace(i, **kw):
    return {"problem_id": f"t{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i),
            "completion": f"<think>\nadd\n</think>\n\n$\\boxed{{{2 * i}}}$", **kw}


def write_gz(path, rows):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def corrupt_parquet(path, rows=2000, row_group=0):
    """A real zstd Parquet file (row groups of 1,000 rows) whose first column chunk of `row_group`
    is overwritten in its middle: the footer and schema still read, that page does not."""
    table = pa.table({"problem": [f"problem number {i} " * 5 for i in range(rows)],
                      "completion": [f"<think>\n{i}\n</think>\n\n$\\boxed{{{i}}}$" for i in range(rows)],
                      "answer": [str(i) for i in range(rows)]})
    pq.write_table(table, path, row_group_size=1000, compression="zstd")
    chunk = pq.ParquetFile(path).metadata.row_group(row_group).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    middle = start + chunk.total_compressed_size // 2
    data[middle:middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    pq.read_schema(path)  # the footer is intact
    return path


# -- suffix rules -----------------------------------------------------------------------------

def test_one_suffix_rule_for_every_reader():
    assert DATA_SUFFIXES == (".parquet", ".jsonl", ".json", ".jsonl.gz", ".json.gz")
    from pathlib import Path

    assert data_suffix(Path("x.JSONL.GZ")) == ".jsonl.gz" and data_suffix(Path("x.json.gz")) == ".json.gz"
    assert data_suffix(Path("x.parquet.tmp")) is None and data_suffix(Path("x.gz")) is None
    assert looks_like_hub_id("user/name") and looks_like_hub_id("user/name.v2")
    for missing in ("user/x.jsonl.gz", "user/x.jsonl.zst", "user/x.csv"):
        assert not looks_like_hub_id(missing)
        with pytest.raises(InputError, match="no such file or folder"):
            resolve(missing)


@pytest.mark.parametrize("name, message", [
    ("x.jsonl.zst", r"x\.jsonl\.zst: compressed with zstd, which is not read; decompress it or use \.jsonl\.gz$"),
    ("x.jsonl.xz", r"x\.jsonl\.xz: compressed with xz, which is not read; decompress it or use \.jsonl\.gz$"),
    ("x.json.bz2", r"x\.json\.bz2: compressed with bzip2, which is not read; decompress it or use \.json\.gz$"),
    ("x.parquet.gz", r"x\.parquet\.gz: compressed with gzip, which is not read; decompress it"),
    ("x.csv", r"x\.csv: CSV, which is not read; convert it to \.parquet"),
    ("x.csv.gz", r"x\.csv\.gz: CSV compressed with gzip, which is not read"),
    ("x.ndjson", r"x\.ndjson: JSON lines named \.ndjson, which is not read; name it \.jsonl"),
    ("x.zip", r"x\.zip: an archive, which is not read; extract it"),
])
def test_a_data_file_that_is_not_read_is_refused_not_skipped(tmp_path, name, message):
    write_jsonl(tmp_path / "in" / "a.jsonl", make_problems(2))
    (tmp_path / "in" / name).write_bytes(b"rows")
    with pytest.raises(InputError, match=message):
        data_files(tmp_path / "in")
    with pytest.raises(InputError, match=message):  # and given alone
        data_files(tmp_path / "in" / name)
    with pytest.raises(InputError, match=message):
        load_problems(str(tmp_path / "in"))


def test_what_is_not_data_is_passed_over(tmp_path):
    folder = tmp_path / "in"
    write_jsonl(folder / "a.jsonl", make_problems(2))
    for name in ("README.md", "notes.txt", "x.lock", "run.log", ".hidden.jsonl", "shard-000001.parquet.tmp",
                 "x.gz"):
        (folder / name).write_text("not rows")
    write_jsonl(folder / ".cache" / "old.jsonl", make_problems(3))
    assert [p.name for p in data_files(folder)] == ["a.jsonl"]


def test_a_parquet_only_reader_refuses_json_lines_beside_but_passes_over_metadata(tmp_path):
    folder = tmp_path / "acc"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([trace(1)]), folder / "a.parquet")
    (folder / "factory_schema.json").write_text("{}")
    assert [p.name for p in data_files(folder, (".parquet",))] == ["a.parquet"]
    write_gz(folder / "b.jsonl.gz", [trace(2)])
    with pytest.raises(InputError, match=r"b\.jsonl\.gz: \.jsonl\.gz files are not read here; use \.parquet"):
        data_files(folder, (".parquet",))


# -- gzip ---------------------------------------------------------------------------------------

def test_gzipped_json_lines_and_json_are_read_everywhere(tmp_path):
    rows = make_problems(6)
    folder = tmp_path / "in"
    write_jsonl(folder / "a.jsonl", rows[:2])
    write_gz(folder / "b.jsonl.gz", rows[2:4])
    with gzip.open(folder / "c.json.gz", "wt") as f:
        json.dump(rows[4:], f)
    assert [r["problem_id"] for r in load_problems(str(folder)).rows] == [r["id"] for r in rows]
    traces = tmp_path / "traces"
    write_jsonl(traces / "a.jsonl", [trace(1)])
    write_gz(traces / "b.jsonl.gz", [trace(2), trace(3)])
    source = TraceSource(str(traces))
    try:
        assert source.num_rows == 3
        got = pa.concat_tables(source.batches(10)).column("problem_id").to_pylist()
        assert sorted(got) == ["t1", "t2", "t3"]
    finally:
        source.close()


def test_a_bad_line_inside_gzip_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b'{"problem": "a"}\n{"problem": \n')
    with pytest.raises(InputError, match=r"p\.jsonl\.gz:2: malformed JSON"):
        load_problems(str(path))


def test_damaged_gzip_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(b"this is not gzip at all\n")
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz: not valid gzip data after line 0"):
        load_problems(str(bad))
    data = gzip.compress(b"".join(json.dumps(p).encode() + b"\n" for p in make_problems(200)))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jsonl\.gz: not valid gzip data after line \d+"):
        load_problems(str(cut))
    bad_json = tmp_path / "bad.json.gz"
    bad_json.write_bytes(b"\x1f\x8bnope")
    with pytest.raises(InputError, match=r"bad\.json\.gz: not valid gzip data"):
        load_problems(str(bad_json))
    with pytest.raises(InputError, match=r"bad\.jsonl\.gz: not valid gzip data"):
        TraceSource(str(bad))
    misnamed = tmp_path / "m.jsonl"
    misnamed.write_bytes(gzip.compress(b'{"problem": "a"}\n'))
    with pytest.raises(InputError, match=r"m\.jsonl: holds gzip-compressed data but is not named \.gz"):
        load_problems(str(misnamed))


# -- corrupt Parquet pages ----------------------------------------------------------------------

def test_a_corrupt_parquet_page_names_the_file_and_row_group(tmp_path):
    path = corrupt_parquet(tmp_path / "t.parquet", row_group=1)
    message = r"t\.parquet: corrupt Parquet data \(row group 1, rows 1001-2000\): "
    with pytest.raises(InputError, match=message):
        for _ in parquet_batches(path, 700):
            pass
    source = TraceSource(str(path))
    with pytest.raises(InputError, match=message):
        for _ in source.batches(700):
            pass
    with pytest.raises(InputError, match=message):
        load_problems(str(path))


def test_the_student_reader_names_a_corrupt_parquet_page(tmp_path):
    from students.data import load_rows

    (tmp_path / "acc").mkdir()
    corrupt_parquet(tmp_path / "acc" / "t.parquet")
    with pytest.raises(InputError, match=r"--data .*t\.parquet: corrupt Parquet data \(row group 0, rows 1-1000\)"):
        load_rows(str(tmp_path / "acc"))


# -- column types -------------------------------------------------------------------------------

def test_mixed_type_json_columns_are_read_as_their_declared_types(tmp_path):
    rows = [trace(1, answer=7, level=1, meta="x", tests=None, score=None),
            trace(2, answer="\\frac{14}{2}", level=2.5, meta=3, tests=[{"input": "1", "output": "2"}], score=1),
            trace(3, answer="025", level=3, meta=[1, 2], tests="[]", score=None),
            trace(4, answer=0.5, level=4, meta={"a": "b/c é"}, tests=[{"input": 1, "output": "2"}], score=2),
            trace(5, answer="7.50", level=5, meta="\\$36", tests=None, score=None, completion=None)]
    source = TraceSource(str(write_jsonl(tmp_path / "in.jsonl", rows)))
    try:
        types = {f.name: f.type for f in source.schema}
        assert types["answer"] == pa.string() and types["completion"] == pa.string()
        assert types["level"] == pa.float64() and types["meta"] == pa.string() and types["tests"] == pa.string()
        got = pa.concat_tables(source.batches(2)).to_pylist()
    finally:
        source.close()
    assert [r["answer"] for r in got] == ["7", "\\frac{14}{2}", "025", "0.5", "7.50"]
    assert [r["level"] for r in got] == [1.0, 2.5, 3.0, 4.0, 5.0]
    assert [r["meta"] for r in got] == ["x", "3", "[1,2]", '{"a":"b/c é"}', "\\$36"]
    assert got[1]["tests"] == '[{"input":"1","output":"2"}]' and got[2]["tests"] == "[]"
    assert got[4]["completion"] is None and got[0]["completion"].startswith("<think>")


def test_text_columns_are_strings_across_parquet_files_of_different_types(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([trace(1, answer=7), trace(2, answer=8)]), folder / "a.parquet")
    pq.write_table(pa.Table.from_pylist([trace(3, answer=0.5)]), folder / "b.parquet")
    pq.write_table(pa.Table.from_pylist([trace(4, answer="\\frac{1}{2}")]), folder / "c.parquet")
    source = TraceSource(str(folder))
    try:
        assert source.schema.field("answer").type == pa.string()
        got = pa.concat_tables(source.batches(10)).column("answer").to_pylist()
    finally:
        source.close()
    assert got == ["7", "8", "0.5", "\\frac{1}{2}"]
