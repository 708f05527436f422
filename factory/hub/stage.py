"""Stage a filter output folder as a Hub-ready dataset repo on disk.

    STAGE/
    ├── README.md                                  dataset card (factory/hub/card.py)
    ├── data/train-00000-of-00002.parquet          one config, or data/<domain>/… per domain
    ├── rejected/train-00000-of-00001.parquet      with --with-rejected: a "rejected" config
    ├── images/funnel.png, pass_rate.png, lengths.png   shown in the card
    ├── factory_schema.json                        the rows' schema: compared on re-publish
    └── factory_publish.json                       configs, counts, source

Files are at most `max_file_mb` (uncompressed, so smaller on disk) and row
groups at most `max_row_group_mb` uncompressed, the size the Hub's dataset
viewer reads. Rows are streamed: memory stays bounded whatever the input size.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import InputError
from factory.core.shards import atomic_write_json, shard_paths

DROP = ("reject_reason", "reject_filter", "reject_detail")  # meaningless on accepted rows
MB = 1 << 20


@dataclass
class Staged:
    root: Path
    configs: dict[str, list[str]]          # config name → files (relative)
    rows: dict[str, int]                   # config name → rows
    schema: object
    stats: dict
    lengths: list[int] = field(default_factory=list)   # completion tokens per accepted row
    manifest: dict | None = None           # the generate run's manifest, when reachable


def _read_stats(folder: Path) -> dict:
    path = folder / "stats.json"
    if not path.is_file():
        raise InputError(f"--data {folder}: no stats.json; publish a `python -m factory.filter` output folder")
    return json.loads(path.read_text())


def _generate_manifest(stats: dict) -> dict | None:
    src = Path(stats.get("input", ""))
    for candidate in (src / "manifest.json", src.parent / "manifest.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return None


class _RollingWriter:
    """Writes `{prefix}-{i:05d}` files of at most max_bytes uncompressed; renamed `-of-N` on close."""

    def __init__(self, directory: Path, prefix: str, schema, max_bytes: int, row_group_bytes: int):
        self.directory, self.prefix, self.schema = directory, prefix, schema
        self.max_bytes, self.row_group_bytes = max_bytes, row_group_bytes
        self.files: list[Path] = []
        self._writer = None
        self._bytes = 0
        self.rows = 0

    def write(self, table) -> None:
        if table.num_rows == 0:
            return
        per_row = max(1, table.nbytes // table.num_rows)
        rows_per_group = max(1, self.row_group_bytes // per_row)
        for off in range(0, table.num_rows, rows_per_group):
            part = table.slice(off, rows_per_group)
            if self._writer is None or self._bytes + part.nbytes > self.max_bytes:
                self._roll()
            self._writer.write_table(part, row_group_size=rows_per_group)
            self._bytes += part.nbytes
            self.rows += part.num_rows

    def _roll(self) -> None:
        import pyarrow.parquet as pq

        if self._writer is not None:
            self._writer.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.prefix}-{len(self.files):05d}.tmp.parquet"
        self.files.append(path)
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._bytes = 0

    def close(self) -> list[Path]:
        if self._writer is not None:
            self._writer.close()
        n = len(self.files)
        final = []
        for i, path in enumerate(self.files):
            target = path.with_name(f"{self.prefix}-{i:05d}-of-{n:05d}.parquet")
            path.rename(target)
            final.append(target)
        return final


def stage(folder: Path, out: Path, *, with_rejected: bool = False, max_file_mb: int = 500,
          max_row_group_mb: int = 100, batch_rows: int = 2048) -> Staged:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    stats = _read_stats(folder)
    accepted = shard_paths(folder / "accepted") or sorted((folder / "accepted").glob("*.parquet"))
    n_accepted = sum(pq.read_metadata(p).num_rows for p in accepted)
    if n_accepted == 0:
        raise InputError(f"--data {folder}: the accepted set is empty; nothing to publish")
    schema = pq.read_schema(accepted[0])
    keep = [n for n in schema.names if n not in DROP]
    out_schema = pa.schema([schema.field(n) for n in keep])

    # Domains → configs: one config per domain when there are several.
    domains = set()
    for p in accepted:
        if "domain" in schema.names:
            domains.update(pq.read_table(p, columns=["domain"]).column("domain").to_pylist())
    domains.discard(None)
    per_domain = len(domains) > 1

    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    writers: dict[str, _RollingWriter] = {}

    def writer_for(config: str, directory: Path, prefix: str = "train") -> _RollingWriter:
        if config not in writers:
            writers[config] = _RollingWriter(directory, prefix, out_schema, max_file_mb * MB, max_row_group_mb * MB)
        return writers[config]

    lengths: list[int] = []
    for p in accepted:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows, columns=keep):
            table = pa.Table.from_batches([batch]).cast(out_schema)
            if "completion_tokens" in table.schema.names:
                lengths += [v for v in table.column("completion_tokens").to_pylist() if v is not None]
            elif "completion" in table.schema.names:
                lengths += [int(len(c or "") / 3.6) for c in table.column("completion").to_pylist()]
            if per_domain:
                import pyarrow.compute as pc

                for d in sorted(set(table.column("domain").to_pylist()) - {None}):
                    writer_for(d, out / "data" / d).write(table.filter(pc.equal(table.column("domain"), d)))
            else:
                writer_for("default", out / "data").write(table)
    if with_rejected:
        rejected = sorted((folder / "rejected").glob("*.parquet"))
        rej_schema = pq.read_schema(rejected[0]) if rejected else None
        for p in rejected:
            for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows):
                w = writers.get("rejected") or writers.setdefault(
                    "rejected", _RollingWriter(out / "rejected", "train", rej_schema, max_file_mb * MB,
                                               max_row_group_mb * MB))
                w.write(pa.Table.from_batches([batch]).cast(rej_schema))

    configs, rows = {}, {}
    for name, w in writers.items():
        files = w.close()
        configs[name] = [str(f.relative_to(out)) for f in files]
        rows[name] = w.rows
    staged = Staged(root=out, configs=configs, rows=rows, schema=out_schema, stats=stats, lengths=lengths,
                    manifest=_generate_manifest(stats))
    atomic_write_json(out / "factory_schema.json", {"format": "r1-factory.dataset/1",
                                                    "schema": out_schema.to_string(show_schema_metadata=False)})
    atomic_write_json(out / "factory_publish.json", {
        "format": "r1-factory.dataset/1", "schema": out_schema.to_string(show_schema_metadata=False),
        "configs": configs, "rows": rows, "source": str(folder)})
    return staged


def accepted_rows_by_key(folder: Path) -> dict:
    """The accepted rows as published (reject columns dropped), keyed for comparison."""
    import pyarrow.parquet as pq

    table = pq.ParquetDataset(Path(folder) / "accepted").read()
    table = table.drop_columns([c for c in DROP if c in table.schema.names])
    out = defaultdict(list)
    for r in table.to_pylist():
        out[(r.get("problem_id"), r.get("sample"))].append(r)
    return out
