"""Parquet shards on disk: atomic writes, bounded size, crash-safe resume.

A shard is written whole or not at all: rows go to `NAME.parquet.tmp`, are
fsynced, then renamed to `NAME.parquet` (rename is atomic on POSIX). A reader
only ever sees `*.parquet`, so a crash (kill -9 included) can lose the rows of
the shard being written, never corrupt or duplicate what is on disk. Leftover
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
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk keeps the old file whole and leaves no half one
        raise
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
    """Rows → numbered zstd Parquet shards, streamed: the one Parquet writer of the factory.

    Rows are buffered until a row group is full (`row_group_rows` rows or ~`row_group_bytes`),
    which is then appended to the open shard, `NAME.parquet.tmp`. The shard is finished (fsynced,
    renamed to `NAME.parquet`) when it holds `max_rows` rows or ~`max_bytes`, when its oldest row
    has waited `flush_seconds` (bounding what a crash can lose), and on `flush()` / `close()`.
    Memory holds one row group, not a shard. Numbering continues after the shards already in the
    directory, so a resumed run appends. `publish_names` renames finished shards the Hub way
    (`train-00000-of-00003.parquet`) for a staged dataset repo.
    """

    def __init__(self, directory: Path, schema, *, max_rows: int = 10_000,
                 max_bytes: int = 256 << 20, flush_seconds: float = 300.0,
                 row_group_rows: int = 1_000, row_group_bytes: int = 64 << 20,
                 use_dictionary: bool | list[str] = True, compression: str = "zstd"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):
            stale.unlink()
        self.schema = schema
        self.max_rows, self.max_bytes, self.flush_seconds = max_rows, max_bytes, flush_seconds
        self.row_group_rows, self.row_group_bytes = row_group_rows, row_group_bytes
        # Dictionary encoding pays for short repeated values; on long unique text (traces) pyarrow's
        # attempt costs several times the write itself (bench/README.md, "Mixtures"): name the columns.
        self.use_dictionary, self.compression = use_dictionary, compression
        existing = shard_paths(self.directory)
        self._next = int(_SHARD_RE.search(existing[-1].name).group(1)) + 1 if existing else 0
        self._rows: list[dict] = []
        self._tables: list = []      # whole Arrow tables, from add_table
        self._pending = 0            # rows in _rows and _tables
        self._pending_bytes = 0
        self._file = None            # (ParquetWriter, open file, path) of the shard being written
        self._shard_rows = 0         # rows already in the open shard
        self._shard_bytes = 0
        self._oldest: float | None = None
        self.written_rows = 0
        self.written_shards: list[Path] = []

    def add(self, row: dict) -> None:
        self._mark()
        self._rows.append(row)
        self._pending += 1
        self._pending_bytes += _approx_bytes(row)
        self._after_add()

    def add_table(self, table) -> None:
        """Append an Arrow table with this writer's schema (column-wise, no row dicts)."""
        if table.num_rows == 0:
            return
        self._mark()
        self._tables.append(table)
        self._pending += table.num_rows
        self._pending_bytes += table.nbytes
        self._after_add()

    def add_many(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(row)

    def _mark(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()

    def _after_add(self) -> None:
        if self._shard_rows + self._pending >= self.max_rows or \
                self._shard_bytes + self._pending_bytes >= self.max_bytes:
            self.flush()
        elif self._pending >= self.row_group_rows or self._pending_bytes >= self.row_group_bytes:
            self._write_groups()

    def _write_groups(self) -> None:
        """The buffered rows, appended to the open shard in row groups of the configured size."""
        if not self._pending:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = list(self._tables)
        if self._rows:
            parts.append(pa.Table.from_pylist(self._rows, schema=self.schema))
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        per_row = max(1, self._pending_bytes // self._pending)
        group = max(1, min(self.row_group_rows, self.row_group_bytes // per_row))
        if self._file is None:
            path = self.directory / f"shard-{self._next:06d}.parquet"
            handle = open(path.with_name(path.name + ".tmp"), "wb")
            self._file = (pq.ParquetWriter(handle, self.schema, compression=self.compression,
                                           use_dictionary=self.use_dictionary), handle, path)
        self._file[0].write_table(table, row_group_size=group)
        self._shard_rows += table.num_rows
        self._shard_bytes += self._pending_bytes
        self._rows, self._tables, self._pending, self._pending_bytes = [], [], 0, 0

    def flush_if_due(self) -> None:
        """Call regularly (even when no row arrives) to honour flush_seconds."""
        if self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds:
            self.flush()

    def flush(self) -> Path | None:
        """Finish the open shard (buffered rows included); its path, or None when there was nothing."""
        self._write_groups()
        if self._file is None:
            return None
        writer, handle, path = self._file
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(path.with_name(path.name + ".tmp"), path)
        fsync_dir(self.directory)
        self._next += 1
        self.written_rows += self._shard_rows
        self.written_shards.append(path)
        self._file, self._shard_rows, self._shard_bytes, self._oldest = None, 0, 0, None
        return path

    close = flush

    def abort(self) -> None:
        """Drop the shard being written (its `.tmp` file) and the buffered rows: after a write failed
        (a full disk), so nothing half-written stays. Finished shards are kept."""
        if self._file is not None:
            writer, handle, path = self._file
            for close in (writer.close, handle.close):
                try:
                    close()
                except Exception:  # the same full disk: the file goes anyway
                    pass
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        self._file, self._shard_rows, self._shard_bytes, self._oldest = None, 0, 0, None
        self._rows, self._tables, self._pending, self._pending_bytes = [], [], 0, 0

    def publish_names(self, prefix: str = "train") -> list[Path]:
        """Finish, then rename this writer's shards `{prefix}-{i:05d}-of-{n:05d}.parquet` (the Hub's
        file naming, which needs the count): for a staging folder, not for a run that resumes."""
        self.flush()
        n = len(self.written_shards)
        named = []
        for i, path in enumerate(self.written_shards):
            target = path.with_name(f"{prefix}-{i:05d}-of-{n:05d}.parquet")
            os.replace(path, target)
            named.append(target)
        self.written_shards = named
        return named
