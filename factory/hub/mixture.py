"""Stage a built mixture (students/mixture.py: mixture.json, train/, test/) as a Hub dataset repo.

    STAGE/
    ├── README.md                                  dataset card with a Mixture section (factory/hub/card.py)
    ├── data/train-00000-of-00002.parquet          the train split, in the mixture's order
    ├── data/test-00000-of-00001.parquet           the test split, when the mixture holds one out
    ├── images/lengths.png
    ├── factory_schema.json                        the rows' schema: compared on re-publish
    └── factory_publish.json                       configs, counts, sources

Only what the mixture's own records say reaches the card: each source's id as written in the
mixture file (the rows' `source` column), its share, rows, funnel and licence; never a local path.
"""

from __future__ import annotations

import json
from pathlib import Path

from factory.core import layout
from factory.core.errors import InputError
from factory.core.shards import ShardWriter, atomic_write_json
from factory.hub.stage import MB, Staged, _completion_lengths

_NEEDED = ("format", "rows", "sources", "seed", "sha256")


def read_manifest(folder: Path) -> dict:
    """mixture.json with the keys the card needs; InputError (one line) otherwise."""
    path = Path(folder) / layout.MIXTURE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not readable as JSON ({e}); rebuild the mixture") from None
    missing = [k for k in _NEEDED if k not in manifest] if isinstance(manifest, dict) else list(_NEEDED)
    if missing:
        raise InputError(f"{path}: no {missing[0]!r}; not a mixture built by students/mixture.py: rebuild it")
    return manifest


def split_files(folder: Path, split: str) -> list[Path]:
    return sorted((Path(folder) / split).glob("*.parquet"))


def stage_mixture(folder: Path, out: Path, *, max_file_mb: int = 500, max_row_group_mb: int = 100,
                  batch_rows: int = 2048) -> Staged:
    """Stages the mixture `folder` in `out` (an empty folder the caller holds), laid out as in this
    module's docstring; InputError when its rows disagree with its mixture.json."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    manifest = read_manifest(folder)
    files, lengths, rows, schema = [], [], {}, None
    for split in (layout.TRAIN, layout.TEST):
        parts = split_files(folder, split)
        if not parts:
            continue
        schema = schema or pq.read_schema(parts[0])
        writer = ShardWriter(out / "data", schema, max_rows=1 << 62, max_bytes=max_file_mb * MB,
                             flush_seconds=float("inf"), row_group_rows=1 << 62,
                             row_group_bytes=max_row_group_mb * MB)
        for p in parts:
            for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows):
                table = _table(batch, schema)
                lengths += _completion_lengths(table)
                writer.add_table(table)
        files += [str(f.relative_to(out)) for f in writer.publish_names(split)]
        rows[split] = writer.written_rows
    recorded = {k: int(v) for k, v in manifest["rows"].items() if v}
    if rows != recorded:
        raise InputError(f"{folder / layout.MIXTURE} records {recorded} rows but the folder holds {rows}: it was "
                         "changed after the mixture was built; rebuild it")
    schema_text = schema.to_string(show_schema_metadata=False)
    atomic_write_json(out / "factory_schema.json", {"format": "r1-factory.dataset/1", "schema": schema_text})
    atomic_write_json(out / "factory_publish.json", {
        "format": "r1-factory.dataset/1", "schema": schema_text, "configs": {"default": files}, "rows": rows,
        "mixture": {"sources": [s["id"] for s in manifest["sources"]], "sha256": manifest["sha256"]}})
    return Staged(root=out, configs={"default": files}, rows={"default": sum(rows.values())}, schema=schema,
                  stats={"accepted": sum(rows.values()), "splits": rows}, lengths=lengths, mixture=manifest)


def _table(batch, schema):
    import pyarrow as pa

    return pa.Table.from_batches([batch]).cast(schema)


def mixture_rows(folder: Path):
    """Every row of the mixture, train then test, as the round trip compares them."""
    import pyarrow.parquet as pq

    for split in (layout.TRAIN, layout.TEST):
        for p in split_files(folder, split):
            yield from pq.read_table(p).to_pylist()
