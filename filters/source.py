"""Trace sources for filtering: a generate run, Parquet / JSONL files (plain or .jsonl.gz) or
folders, a Hub dataset.

Batches come out as pyarrow Tables with one unified schema, so every input column can be
written back. Columns are normalised on the way in, so that what is written is what the file
holds: the text columns the factory knows (problem, answer, completion, reasoning, response,
problem_id, domain, source, … and the names `columns` maps) are strings, numbers written as text
the way factory/core/problems.py `as_text` does (7 → "7", 0.5 → "0.5", lists and objects as JSON);
a column the JSON reader left as Arrow's JSON type (its lines mixed types) gets the type its values
share, else their text. `columns` maps the filters' names (problem, answer, completion, …) onto
the source's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from factory.core.errors import InputError
from factory.core.inputs import open_parquet, parquet_batches, resolve
from factory.core.layout import data_suffix
from factory.core.problems import ColumnMap, as_text, iter_records
from factory.core.traces import trace_schema

# Text whatever the input wrote, besides the trace schema's string columns and the mapped names.
OTHER_TEXT_COLUMNS = ("source",)


@dataclass(frozen=True)
class Columns(ColumnMap):
    """A trace input's columns (--problem-column, --answer-column, --completion-column, --id-column):
    the problem reader's map, with the completion, and the trace schema's `problem_id` as the id."""

    id: str = "problem_id"
    completion: str = "completion"


def text_columns(columns: Columns) -> frozenset[str]:
    """The columns read as strings: the trace schema's text columns and the ones `columns` names."""
    import pyarrow as pa

    known = {f.name for f in trace_schema() if f.type == pa.string()}
    return frozenset(known | set(OTHER_TEXT_COLUMNS) |
                     {columns.problem, columns.answer, columns.completion, columns.id})


def _json_as_arrow(files: list[Path], cache_dir: str):
    """JSON/JSONL (plain or gzipped) → a memory-mapped Arrow table (via `datasets`), so memory stays
    bounded. Every line is parsed here first, so that a bad one is named by file and line."""
    import datasets
    import pyarrow as pa

    holding = [f for f in files if sum(1 for _ in iter_records(f))]  # every line read
    if not holding:
        return pa.table({})
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset("json", data_files=[str(f) for f in holding], split="train", cache_dir=cache_dir)
    except Exception as e:
        raise InputError(f"{', '.join(map(str, holding))}: cannot be read as one table "
                         f"({type(e).__name__}: {str(e)[:300]}); convert to Parquet with one type per column") from None
    return ds.data.table


class TraceSource:
    def __init__(self, spec: str, columns: Columns = Columns(), *, split: str = "train"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.spec, self.columns = spec, columns
        found = resolve(spec)
        self._json = self._cache = self._hub = None
        self.files = found.files
        text = text_columns(columns)
        if found.hub_id:
            self._hub = found.hub_dataset(split).data.table
            schemas = [_declared(self._hub.schema, text, self._hub)]
        else:
            schemas = self._local_schemas(text)
        try:
            self.schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            self.close()
            raise InputError(f"{spec}: its files have incompatible columns ({e})") from None
        if self._hub is not None:
            self.num_rows = self._hub.num_rows
        else:
            self.num_rows = sum(pq.read_metadata(f).num_rows for f in self.parquet_files()) + \
                (self._json.num_rows if self._json is not None else 0)
        self._check()

    def parquet_files(self) -> list[Path]:
        """The input's Parquet files, read first (`batches`)."""
        return [f for f in self.files if data_suffix(f) == ".parquet"]

    @property
    def has_other_rows(self) -> bool:
        """Whether some rows are not in Parquet files (a Hub dataset, JSON files): `other_batches`."""
        return self._hub is not None or self._json is not None

    def _local_schemas(self, text: frozenset[str]) -> list:
        """The declared schema of every Parquet file, and of the JSON files read as one table."""
        schemas = [_declared(open_parquet(f).schema_arrow, text) for f in self.parquet_files()]
        json_files = [f for f in self.files if data_suffix(f) != ".parquet"]
        if json_files:
            import tempfile

            self._cache = tempfile.mkdtemp(prefix="factory-filter-json-")
            try:
                self._json = _json_as_arrow(json_files, self._cache)
            except InputError:
                self.close()
                raise
            if self._json.num_columns:
                schemas.append(_declared(self._json.schema.remove_metadata(), text, self._json))
        return schemas

    def _check(self) -> None:
        """An InputError for an empty input, a missing column, or a filter's output given as input."""
        names = set(self.schema.names)
        problem = None
        if self.num_rows == 0:
            problem = f"{self.spec}: the input is empty (0 rows)"
        elif missing := [f"--{k}-column {getattr(self.columns, k)}" for k in ("problem", "completion")
                         if getattr(self.columns, k) not in names]:
            problem = f"{self.spec}: missing column(s) {', '.join(missing)}; available: {', '.join(self.schema.names)}"
        elif taken := [c for c in ("reject_reason", "reject_filter", "reject_detail") if c in names]:
            problem = f"{self.spec}: already has a {taken[0]!r} column (is it a filter output?)"
        if problem:
            self.close()
            raise InputError(problem)

    def batches(self, rows: int, columns: list[str] | None = None) -> Iterator:
        """Tables of up to `rows` rows in the unified schema (only `columns`, where given)."""
        schema = self.schema_of(columns)
        for f in self.parquet_files():
            yield from parquet_tables(f, rows, schema, every_column=columns is None)
        yield from self.other_batches(rows, columns)

    def schema_of(self, columns: list[str] | None):
        """The unified schema, only `columns` where given (in the schema's order)."""
        import pyarrow as pa

        return self.schema if columns is None else \
            pa.schema([self.schema.field(c) for c in self.schema.names if c in set(columns)])

    def other_batches(self, rows: int, columns: list[str] | None = None) -> Iterator:
        """The rows that are not in Parquet files (a Hub dataset, JSON files), which `batches`
        gives after every Parquet file's."""
        import pyarrow as pa

        schema = self.schema_of(columns)
        table = self._hub if self._hub is not None else self._json
        if table is None:
            return
        table = table.select([c for c in schema.names if c in set(table.schema.names)])
        for b in table.to_batches(max_chunksize=rows):
            yield conform(pa.Table.from_batches([b], schema=table.schema), schema, self.spec)

    def close(self) -> None:
        """Remove the Arrow cache made for JSON inputs."""
        if self._cache:
            import shutil

            self._json = None
            shutil.rmtree(self._cache, ignore_errors=True)
            self._cache = None


def parquet_tables(path, rows: int, schema, *, every_column: bool = False,
                   row_groups: list[int] | None = None) -> Iterator:
    """Tables of up to `rows` rows of a Parquet file in `schema` (`conform`): the file's columns that
    `schema` names, or all of them with `every_column`; only `row_groups` where given."""
    import pyarrow as pa

    pf = open_parquet(path)
    present = None if every_column else [c for c in schema.names if c in set(pf.schema_arrow.names)]
    for b in parquet_batches(path, rows, present, pf=pf, row_groups=row_groups):
        yield conform(pa.Table.from_batches([b]), schema, str(path))


# -- types: what each input column is read as ------------------------------------------------------

def _is_json(t) -> bool:
    return getattr(t, "extension_name", None) == "arrow.json"


def _has_json(t) -> bool:
    """Whether Arrow's JSON type is `t` or inside it (a list of JSON values, a struct field)."""
    import pyarrow as pa

    if _is_json(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_json(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_json(t.field(i).type) for i in range(t.num_fields))
    return False


def _is_text(t) -> bool:
    import pyarrow as pa

    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _declared(schema, text: frozenset[str], table=None):
    """`schema` with each column's type as read: text columns string, JSON-typed ones the type their
    values share in `table` (string when there is no table to look at)."""
    import pyarrow as pa

    fields = []
    for fld in schema:
        if fld.name in text:
            fld = fld if _is_text(fld.type) else fld.with_type(pa.string())
        elif _has_json(fld.type):
            fld = fld.with_type(_shared_type(table.column(fld.name)) if table is not None else pa.string())
        fields.append(fld)
    return pa.schema(fields)


def _shared_type(column):
    """The one Arrow type the decoded values of a JSON-typed column share (ints and floats share
    float), or string; read chunk by chunk, so that memory stays bounded."""
    import pyarrow as pa

    found = None
    for chunk in column.chunks:
        try:
            t = pa.array([_decode(v, column.type) for v in chunk.to_pylist()]).type
            if pa.types.is_null(t):
                continue
            found = t if found is None else pa.unify_schemas(
                [pa.schema([("v", found)]), pa.schema([("v", t)])], promote_options="permissive").field("v").type
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return pa.string()
    return found or pa.string()


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # `datasets` stores text that its parser accepts bare ("025")
        return text


def _json_text(text: str) -> str:
    """A JSON-typed value as the text the file wrote: strings without their JSON quotes, numbers,
    lists and objects as their JSON text."""
    value = _json_value(text)
    if isinstance(value, str):
        return value
    if "\\" in text:  # `datasets`' escapes in a list or object (\/, \u00e9): written plainly instead
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text


def _decode(value: Any, t) -> Any:
    """A Python value of Arrow type `t` with every JSON text in it read back as its value."""
    import pyarrow as pa

    if value is None:
        return None
    if _is_json(t):
        return _json_value(value)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_decode(v, t.value_type) for v in value]
    if pa.types.is_struct(t):
        return {t.field(i).name: _decode(value.get(t.field(i).name), t.field(i).type) for i in range(t.num_fields)}
    return value


def _as_type(column, target):
    """`column` read as `target`, the type `_declared` gave it."""
    import pyarrow as pa

    t = column.type
    if t == target:
        return column
    if _is_text(target) and _is_json(t):
        return pa.array([None if v is None else _json_text(v) for v in column.to_pylist()], type=target)
    if _is_text(target) and (_has_json(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or
                             pa.types.is_boolean(t) or pa.types.is_nested(t)):
        return pa.array([as_text(_decode(v, t)) for v in column.to_pylist()], type=target)
    if _has_json(t):
        return pa.array([_decode(v, t) for v in column.to_pylist()], type=target)
    return column.cast(target)


def conform(table, schema, where: str = "input"):
    """`table` in `schema`: each column read as its declared type, a missing one all nulls;
    `where` (the file) names a value that cannot be."""
    import pyarrow as pa

    cols = []
    for fld in schema:
        if fld.name in table.schema.names:
            try:
                cols.append(_as_type(table.column(fld.name), fld.type))
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as e:
                raise InputError(f"{where}: column {fld.name!r}: a value cannot be read as {fld.type} ({e})") from None
        else:
            cols.append(pa.nulls(table.num_rows, type=fld.type))
    return pa.Table.from_arrays(cols, schema=schema)
