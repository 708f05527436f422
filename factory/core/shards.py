"""Parquet shards on disk: atomic writes, bounded size, crash-safe resume.

A shard is written whole or not at all: rows go to `NAME.parquet.tmp`, are
fsynced, then renamed to `NAME.parquet` (rename is atomic on POSIX). A reader
only ever sees `*.parquet`, so a crash (kill -9 included) can lose the rows
still buffered in memory, never corrupt or duplicate what is on disk. Leftover
`.tmp` files from a crash are removed by `ShardWriter` on start.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

SHARD_GLOB = "shard-*.parquet"
_SHARD_RE = re.compile(r"shard-(\d+)\.parquet$")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def shard_paths(directory: Path) -> list[Path]:
    """Complete shards in write order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(directory.glob(SHARD_GLOB), key=lambda p: int(_SHARD_RE.search(p.name).group(1)))


def read_columns(directory: Path, columns: list[str]):
    """One pyarrow Table with just `columns` from every shard (cheap: columnar)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p, columns=columns) for p in shard_paths(directory)]
    if not tables:
        return None
    return pa.concat_tables(tables)


def _approx_bytes(row: dict) -> int:
    n = 0
    for v in row.values():
        if isinstance(v, str):
            n += len(v)
        else:
            n += 8
    return n


class ShardWriter:
    """Buffer rows and write them as numbered zstd Parquet shards.

    A shard is flushed when it reaches `max_rows` rows or ~`max_bytes` of
    text, or when its oldest row has waited `flush_seconds` (bounding what a
    crash can lose), and on `close()`. Numbering continues after the shards
    already in the directory, so a resumed run appends.
    """

    def __init__(self, directory: Path, schema, *, max_rows: int = 10_000,
                 max_bytes: int = 256 << 20, flush_seconds: float = 300.0,
                 row_group_rows: int = 1_000):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):
            stale.unlink()
        self.schema = schema
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.flush_seconds = flush_seconds
        self.row_group_rows = row_group_rows
        existing = shard_paths(self.directory)
        self._next = int(_SHARD_RE.search(existing[-1].name).group(1)) + 1 if existing else 0
        self._rows: list[dict] = []
        self._tables: list = []  # whole Arrow tables, from add_table
        self._buffered = 0       # rows in _rows and _tables
        self._bytes = 0
        self._oldest: float | None = None
        self.written_rows = 0
        self.written_shards: list[Path] = []

    def add(self, row: dict) -> None:
        self._mark()
        self._rows.append(row)
        self._buffered += 1
        self._bytes += _approx_bytes(row)
        self._flush_if_full()

    def add_table(self, table) -> None:
        """Append an Arrow table with this writer's schema (column-wise, no row dicts)."""
        if table.num_rows == 0:
            return
        self._mark()
        self._tables.append(table)
        self._buffered += table.num_rows
        self._bytes += table.nbytes
        self._flush_if_full()

    def _mark(self) -> None:
        if not self._buffered:
            self._oldest = time.monotonic()

    def _flush_if_full(self) -> None:
        if self._buffered >= self.max_rows or self._bytes >= self.max_bytes:
            self.flush()

    def add_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(row)

    def flush_if_due(self) -> None:
        """Call regularly (even when no row arrives) to honour flush_seconds."""
        if self._buffered and time.monotonic() - self._oldest >= self.flush_seconds:
            self.flush()

    def flush(self) -> Path | None:
        if not self._buffered:
            return None
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = list(self._tables)
        if self._rows:
            parts.append(pa.Table.from_pylist(self._rows, schema=self.schema))
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        path = self.directory / f"shard-{self._next:06d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd", row_group_size=self.row_group_rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self.directory)
        self._next += 1
        self.written_rows += table.num_rows
        self.written_shards.append(path)
        self._rows, self._tables, self._buffered, self._bytes, self._oldest = [], [], 0, 0, None
        return path

    close = flush
