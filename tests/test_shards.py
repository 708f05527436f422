"""Shards are written whole or not at all, numbered on, flushed by size and age."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq

from factory.core.shards import ShardWriter, atomic_write_json, read_columns, shard_paths

SCHEMA = pa.schema([("k", pa.string()), ("v", pa.int64())])


def test_flush_by_rows_continues_numbering_and_removes_stale_tmp(tmp_path):
    w = ShardWriter(tmp_path, SCHEMA, max_rows=2)
    w.add_many({"k": str(i), "v": i} for i in range(5))
    w.close()
    assert [p.name for p in shard_paths(tmp_path)] == ["shard-000000.parquet", "shard-000001.parquet",
                                                       "shard-000002.parquet"]
    assert pq.read_metadata(shard_paths(tmp_path)[0]).num_rows == 2
    (tmp_path / "shard-000003.parquet.tmp").write_bytes(b"half a shard")
    w2 = ShardWriter(tmp_path, SCHEMA, max_rows=10)
    assert not list(tmp_path.glob("*.tmp"))
    w2.add({"k": "x", "v": 9})
    w2.close()
    assert shard_paths(tmp_path)[-1].name == "shard-000003.parquet"
    assert read_columns(tmp_path, ["v"]).column("v").to_pylist() == [0, 1, 2, 3, 4, 9]
    assert pq.read_metadata(shard_paths(tmp_path)[0]).row_group(0).column(0).compression == "ZSTD"


def test_flush_by_bytes_and_age(tmp_path):
    w = ShardWriter(tmp_path / "b", pa.schema([("k", pa.string())]), max_bytes=1000)
    w.add({"k": "x" * 600})
    assert not shard_paths(tmp_path / "b")
    w.add({"k": "y" * 600})
    assert len(shard_paths(tmp_path / "b")) == 1
    w = ShardWriter(tmp_path / "t", SCHEMA, flush_seconds=0.05)
    w.add({"k": "a", "v": 1})
    w.flush_if_due()
    assert not shard_paths(tmp_path / "t")
    time.sleep(0.06)
    w.flush_if_due()
    assert len(shard_paths(tmp_path / "t")) == 1


def test_atomic_json_leaves_no_tmp(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert (tmp_path / "m.json").read_text().strip().startswith("{")
    assert list(tmp_path.iterdir()) == [tmp_path / "m.json"]
