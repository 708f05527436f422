"""Trace sources for filtering: a generate run, Parquet / JSONL files or folders, a Hub dataset.

Batches come out as pyarrow Tables with one unified schema, so every input
column can be written back unchanged. `columns` maps the filters' names
(problem, answer, completion, …) onto the source's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from factory.core.errors import InputError
from factory.core.inputs import resolve

SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass(frozen=True)
class Columns:
    problem: str = "problem"
    answer: str = "answer"
    completion: str = "completion"
    id: str = "problem_id"


def _json_as_arrow(files: list[Path], cache_dir: str):
    """JSON/JSONL → a memory-mapped Arrow table (via `datasets`), so memory stays bounded."""
    import datasets

    from generators.problems import iter_records

    for f in files:  # every line parses as an object, or the error names file and line
        for _ in iter_records(f):
            pass
    if all(f.stat().st_size == 0 for f in files):
        import pyarrow as pa
        return pa.table({})
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset("json", data_files=[str(f) for f in files], split="train", cache_dir=cache_dir)
    except Exception as e:
        raise InputError(f"{', '.join(map(str, files))}: cannot be read as one table "
                         f"({type(e).__name__}: {str(e)[:300]}); convert to Parquet with one type per column") from None
    return ds.data.table


class TraceSource:
    def __init__(self, spec: str, columns: Columns = Columns(), *, split: str = "train"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.spec, self.columns = spec, columns
        found = resolve(spec, SUFFIXES)
        self._json = None
        self._cache = None
        if not found.hub_id:
            self.files = found.files
            schemas = []
            for f in self.files:
                if f.suffix == ".parquet":
                    try:
                        schemas.append(pq.read_schema(f))
                    except Exception as e:
                        raise InputError(f"{f}: not a readable Parquet file ({e})") from None
            json_files = [f for f in self.files if f.suffix != ".parquet"]
            if json_files:
                import tempfile

                self._cache = tempfile.mkdtemp(prefix="factory-filter-json-")
                self._json = _json_as_arrow(json_files, self._cache)
                if self._json.num_columns:
                    schemas.append(self._json.schema.remove_metadata())
            try:
                self.schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise InputError(f"{spec}: its files have incompatible columns ({e})") from None
            self.num_rows = sum(pq.read_metadata(f).num_rows for f in self.files if f.suffix == ".parquet") + \
                (self._json.num_rows if self._json is not None else 0)
        else:
            self.files = []
            self._hub = found.hub_dataset(split).data.table
            self.schema = self._hub.schema
            self.num_rows = self._hub.num_rows
        if self.num_rows == 0:
            self.close()
            raise InputError(f"{spec}: the input is empty (0 rows)")
        names = set(self.schema.names)
        missing = [f"--{k}-column {getattr(columns, k)}" for k in ("problem", "completion")
                   if getattr(columns, k) not in names]
        if missing:
            self.close()
            raise InputError(f"{spec}: missing column(s) {', '.join(missing)}; available: "
                             f"{', '.join(self.schema.names)}")
        for out_col in ("reject_reason", "reject_filter", "reject_detail"):
            if out_col in names:
                raise InputError(f"{spec}: already has a {out_col!r} column (is it a filter output?)")

    def batches(self, rows: int, columns: list[str] | None = None) -> Iterator:
        """Tables of up to `rows` rows in the unified schema (only `columns`, where given)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._schema(columns)
        for f in self.files:
            if f.suffix == ".parquet":
                pf = pq.ParquetFile(f)
                present = [c for c in schema.names if c in set(pf.schema_arrow.names)]
                for b in pf.iter_batches(batch_size=rows, columns=present if columns is not None else None):
                    yield _conform(pa.Table.from_batches([b]), schema)
        yield from self.other_batches(rows, columns)

    def _schema(self, columns: list[str] | None):
        import pyarrow as pa

        return self.schema if columns is None else \
            pa.schema([self.schema.field(c) for c in self.schema.names if c in set(columns)])

    def other_batches(self, rows: int, columns: list[str] | None = None) -> Iterator:
        """The rows that are not in Parquet files (a Hub dataset, JSON files), which `batches`
        gives after every Parquet file's."""
        import pyarrow as pa

        schema = self._schema(columns)
        if not self.files:
            for b in self._hub.select(schema.names).to_batches(max_chunksize=rows):
                yield pa.Table.from_batches([b])
            return
        if self._json is not None:
            table = self._json if columns is None else \
                self._json.select([c for c in schema.names if c in set(self._json.schema.names)])
            for b in table.to_batches(max_chunksize=rows):
                yield _conform(pa.Table.from_batches([b]), schema)

    def close(self) -> None:
        """Remove the Arrow cache made for JSON inputs."""
        if self._cache:
            import shutil

            self._json = None
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None


def _conform(table, schema):
    import pyarrow as pa

    cols = []
    for fld in schema:
        if fld.name in table.schema.names:
            col = table.column(fld.name)
            cols.append(col if col.type == fld.type else col.cast(fld.type))
        else:
            cols.append(pa.nulls(table.num_rows, type=fld.type))
    return pa.Table.from_arrays(cols, schema=schema)
