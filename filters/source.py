"""Trace sources for filtering: a generate run, Parquet / JSONL files or folders, a Hub dataset.

Batches come out as pyarrow Tables with one unified schema, so every input
column can be written back unchanged. `columns` maps the filters' names
(problem, answer, completion, …) onto the source's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from factory.errors import InputError

SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass(frozen=True)
class Columns:
    problem: str = "problem"
    answer: str = "answer"
    completion: str = "completion"
    id: str = "problem_id"


def _files(path: Path) -> list[Path]:
    if (path / "manifest.json").exists() and (path / "traces").is_dir():
        path = path / "traces"  # a generate run directory
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES)
        if not files:
            raise InputError(f"{path}: no {', '.join(SUFFIXES)} files")
        return files
    if path.suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported file type {path.suffix!r}; use {', '.join(SUFFIXES)}")
    return [path]


def _read_json_file(path: Path):
    import pyarrow as pa

    rows = []
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of objects")
        rows = data
    else:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise InputError(f"{path}:{lineno}: not valid UTF-8") from None
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}:{lineno}: expected a JSON object")
                rows.append(obj)
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        # A column whose values mix types: keep every value, as JSON text.
        cols = {k: None for r in rows for k in r}
        fixed = [{k: (r.get(k) if isinstance(r.get(k), (str, type(None))) else json.dumps(r.get(k)))
                  for k in cols} for r in rows]
        import warnings
        warnings.warn(f"{path}: mixed value types ({e}); values stored as JSON text", stacklevel=2)
        return pa.Table.from_pylist(fixed)


class TraceSource:
    def __init__(self, spec: str, columns: Columns = Columns(), *, split: str = "train"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.spec, self.columns = spec, columns
        path = Path(spec)
        self._tables = None
        if path.exists():
            self.files = _files(path)
            schemas = []
            for f in self.files:
                if f.suffix == ".parquet":
                    try:
                        schemas.append(pq.read_schema(f))
                    except Exception as e:
                        raise InputError(f"{f}: not a readable Parquet file ({e})") from None
            if any(f.suffix != ".parquet" for f in self.files):
                self._tables = {f: _read_json_file(f) for f in self.files if f.suffix != ".parquet"}
                schemas += [t.schema for t in self._tables.values()]
            try:
                self.schema = pa.unify_schemas(schemas, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise InputError(f"{spec}: its files have incompatible columns ({e})") from None
            self.num_rows = sum(pq.read_metadata(f).num_rows for f in self.files if f.suffix == ".parquet") + \
                sum(t.num_rows for t in (self._tables or {}).values())
        elif "/" in spec and not spec.endswith(SUFFIXES):
            try:
                import datasets

                ds = datasets.load_dataset(spec, split=split)
            except Exception as e:
                raise InputError(f"could not load Hub dataset {spec!r} (split {split!r}): "
                                 f"{type(e).__name__}: {e}") from None
            self.files = []
            self._hub = ds.data.table
            self.schema = self._hub.schema
            self.num_rows = self._hub.num_rows
        else:
            raise InputError(f"{spec}: no such file or folder (and not a Hub dataset id like user/name)")
        if self.num_rows == 0:
            raise InputError(f"{spec}: the input is empty (0 rows)")
        names = set(self.schema.names)
        missing = [f"--{k}-column {getattr(columns, k)}" for k in ("problem", "completion")
                   if getattr(columns, k) not in names]
        if missing:
            raise InputError(f"{spec}: missing column(s) {', '.join(missing)}; available: "
                             f"{', '.join(self.schema.names)}")
        for out_col in ("reject_reason", "reject_filter"):
            if out_col in names:
                raise InputError(f"{spec}: already has a {out_col!r} column (is it a filter output?)")

    def batches(self, rows: int) -> Iterator:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.files:
            for b in self._hub.to_batches(max_chunksize=rows):
                yield pa.Table.from_batches([b])
            return
        for f in self.files:
            if f.suffix == ".parquet":
                for b in pq.ParquetFile(f).iter_batches(batch_size=rows):
                    yield _conform(pa.Table.from_batches([b]), self.schema)
            else:
                t = self._tables[f]
                for off in range(0, t.num_rows, rows):
                    yield _conform(t.slice(off, rows), self.schema)


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
