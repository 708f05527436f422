"""Stage a filter output folder as a Hub-ready dataset repo on disk.

    STAGE/
    ├── README.md                                  dataset card (factory/hub/card.py)
    ├── data/train-00000-of-00002.parquet          one config, or data/<domain>/… per domain
    ├── hard/train-00000-of-00001.parquet          the filter's hard subset (--hard-subset): a "hard" config
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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout
from factory.core.manifest import find_provenance
from factory.core.errors import InputError
from factory.core.naming import public_name
from factory.core.shards import ShardWriter, atomic_write_json, shard_paths

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
    generation: dict | None = None         # how the traces were made (factory/core/manifest.py provenance)
    mixture: dict | None = None            # a mixture's mixture.json (factory/hub/mixture.py), else None


_STATS_KEYS = {"input_rows": int, "accepted": int, "funnel": list}


def _read_stats(folder: Path) -> dict:
    """stats.json, with the keys and types the card needs; InputError (one line) otherwise."""
    path = folder / layout.STATS
    if not path.is_file():
        raise InputError(f"--data {folder}: no stats.json; publish a `python -m factory.filter` output folder")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e}); rerun `python -m factory.filter`") from None
    for key, tp in _STATS_KEYS.items():
        if not isinstance(stats, dict) or not isinstance(stats.get(key), tp) or isinstance(stats.get(key), bool):
            raise InputError(f"{path}: no {key!r} ({tp.__name__}); not a `factory.filter` output, or edited "
                             "since: rerun the filter")
    return stats


def _generation(stats: dict) -> dict | None:
    """How the traces were made: recorded by the filter (stats.json `generation`), or, for a filter
    output made before it recorded that, the manifest beside its input when that is still there."""
    return stats.get("generation") or find_provenance(stats.get("input"))


def _row_counts(folder: Path, accepted: list[Path], stats: dict) -> dict:
    """The numbers the card states, counted from the rows themselves: accepted, input, the funnel (rejected
    per filter and reason, in the filter order stats.json records) and per domain. InputError when
    stats.json disagrees: the folder was changed after the filter wrote it, and the card would lie."""
    import pyarrow.parquet as pq

    by_domain: dict = defaultdict(lambda: defaultdict(int))
    reasons: dict = defaultdict(lambda: defaultdict(int))
    n_accepted = 0
    for p in accepted:
        n_accepted += pq.read_metadata(p).num_rows
        if "domain" in pq.read_schema(p).names:
            for d in pq.read_table(p, columns=["domain"]).column("domain").to_pylist():
                by_domain[d or "math"]["input"] += 1
                by_domain[d or "math"]["accepted"] += 1
    for p in sorted((folder / layout.REJECTED).glob("*.parquet")):
        names = pq.read_schema(p).names
        table = pq.read_table(p, columns=[c for c in ("reject_filter", "reject_reason", "domain") if c in names])
        cols = [table.column(c).to_pylist() if c in names else [None] * table.num_rows
                for c in ("reject_filter", "reject_reason", "domain")]
        for filt, reason, domain in zip(*cols):
            reasons[filt or "?"][reason or "?"] += 1
            if "domain" in names:
                by_domain[domain or "math"]["input"] += 1
                by_domain[domain or "math"][filt or "?"] += 1
    funnel = _funnel(stats, reasons, n_accepted)
    n_input = funnel[0]["in"] if funnel else n_accepted
    _check_stats(folder, stats, n_accepted, n_input, funnel)
    return {"input_rows": n_input, "accepted": n_accepted, "funnel": funnel, "flaws": _flaws(stats, funnel),
            "by_domain": {d: dict(v) for d, v in by_domain.items()} if by_domain else stats.get("by_domain", {})}


def _flaws(stats: dict, funnel: list[dict]) -> dict | None:
    """Rejections per flaw, counted from the rows' funnel with the filter's own reason → flaw map
    (stats.json `flaw_of`); a stats.json without the map gives its recorded flaws, one without flaws
    none (the card then leaves the table out)."""
    recorded, flaw_of = stats.get("flaws"), stats.get("flaw_of")
    if not isinstance(recorded, dict) or not isinstance(flaw_of, dict):
        return recorded if isinstance(recorded, dict) else None
    out = {f: 0 for f in recorded if f != "other"}
    for stage in funnel:
        for reason, n in stage["reasons"].items():
            flaw = (flaw_of.get(stage["filter"]) or {}).get(str(reason), "other")
            out[flaw] = out.get(flaw, 0) + n
    if not out.get("other"):
        out.pop("other", None)
    return out


def _funnel(stats: dict, reasons: dict, accepted: int) -> list[dict]:
    """Rows in, rejected and out per filter, in stats.json's filter order (filters it lacks at the end)."""
    order = [f.get("filter") for f in stats["funnel"] if isinstance(f, dict)]
    order += [f for f in reasons if f not in order]
    remaining = accepted + sum(sum(r.values()) for r in reasons.values())
    funnel = []
    for name in order:
        dropped = sum(reasons[name].values())
        funnel.append({"filter": name, "in": remaining, "rejected": dropped, "out": remaining - dropped,
                       "reasons": dict(sorted(reasons[name].items(), key=lambda kv: -kv[1]))})
        remaining -= dropped
    return funnel


def _check_stats(folder: Path, stats: dict, accepted: int, n_input: int, funnel: list[dict]) -> None:
    recorded = {f.get("filter"): f.get("rejected") for f in stats["funnel"] if isinstance(f, dict)}
    counted = {f["filter"]: f["rejected"] for f in funnel}
    y = stats.get("yield") if isinstance(stats.get("yield"), dict) else {}
    if (stats["accepted"], stats["input_rows"]) != (accepted, n_input) or \
            any(recorded.get(k, 0) != v for k, v in counted.items()) or \
            (y and (y.get("accepted"), y.get("input")) != (accepted, n_input)):
        raise InputError(f"{folder / layout.STATS} says {stats['accepted']:,} of {stats['input_rows']:,} traces "
                         f"accepted, but the folder holds {accepted:,} accepted of {n_input:,} (or other counts "
                         "per filter): it was changed after `factory.filter` wrote it; rerun the filter")


def _accepted_files(folder: Path) -> tuple[list[Path], object]:
    """The accepted Parquet files in write order and their schema; InputError when they hold no row."""
    import pyarrow.parquet as pq

    accepted = shard_paths(folder / layout.ACCEPTED) or sorted((folder / layout.ACCEPTED).glob("*.parquet"))
    n_accepted = sum(pq.read_metadata(p).num_rows for p in accepted)
    if n_accepted == 0:
        raise InputError(f"--data {folder}: the accepted set is empty; nothing to publish")
    return accepted, pq.read_schema(accepted[0])


def _splits_by_domain(accepted: list[Path], schema) -> bool:
    """True when the accepted rows span several domains: then each domain becomes its own config."""
    import pyarrow.parquet as pq

    domains = set()
    for p in accepted:
        if "domain" in schema.names:
            domains.update(pq.read_table(p, columns=["domain"]).column("domain").to_pylist())
    domains.discard(None)
    return len(domains) > 1


def _completion_lengths(table) -> list[int]:
    """Completion tokens per row; estimated from characters when the rows carry no token counts."""
    if "completion_tokens" in table.schema.names:
        return [v for v in table.column("completion_tokens").to_pylist() if v is not None]
    if "completion" in table.schema.names:
        return [int(len(c or "") / 3.6) for c in table.column("completion").to_pylist()]
    return []


class _ConfigWriters:
    """One shard writer per config (files of at most ~max_file_mb, row groups of ~max_row_group_mb),
    created on first use, kept in creation order (the order configs are recorded in
    factory_publish.json); its files are named the Hub way on close."""

    def __init__(self, max_file_mb: int, max_row_group_mb: int):
        self.max_bytes, self.row_group_bytes = max_file_mb * MB, max_row_group_mb * MB
        self.writers: dict[str, ShardWriter] = {}

    def get(self, config: str, directory: Path, schema) -> ShardWriter:
        # A config's first caller fixes its directory and schema.
        if config not in self.writers:
            self.writers[config] = ShardWriter(directory, schema, max_rows=1 << 62, max_bytes=self.max_bytes,
                                               flush_seconds=float("inf"), row_group_rows=1 << 62,
                                               row_group_bytes=self.row_group_bytes)
        return self.writers[config]

    def close(self, out: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
        """Closes every writer; returns config → files (relative to `out`) and config → rows."""
        configs, rows = {}, {}
        for name, w in self.writers.items():
            configs[name] = [str(f.relative_to(out)) for f in w.publish_names("train")]
            rows[name] = w.written_rows
        return configs, rows


def _write_accepted(accepted: list[Path], out_schema, out: Path, writers: _ConfigWriters, *, per_domain: bool,
                    batch_rows: int) -> list[int]:
    """Streams the accepted rows (reject columns dropped) into data/ or data/<domain>/; returns their
    completion lengths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lengths: list[int] = []
    for p in accepted:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows, columns=out_schema.names):
            table = pa.Table.from_batches([batch]).cast(out_schema)
            lengths += _completion_lengths(table)
            if per_domain:
                import pyarrow.compute as pc

                for d in sorted(set(table.column("domain").to_pylist()) - {None}):
                    writers.get(d, out / "data" / d, out_schema).add_table(
                        table.filter(pc.equal(table.column("domain"), d)))
            else:
                writers.get("default", out / "data", out_schema).add_table(table)
    return lengths


def _write_hard(folder: Path, out_schema, out: Path, writers: _ConfigWriters, *, batch_rows: int) -> None:
    """The filter's hard subset (OUT/hard/, `--hard-subset`), reject columns dropped, as the "hard" config."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for p in sorted((folder / layout.HARD).glob("*.parquet")):
        for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows, columns=out_schema.names):
            writers.get("hard", out / "hard", out_schema).add_table(pa.Table.from_batches([batch]).cast(out_schema))


def _write_rejected(folder: Path, out: Path, writers: _ConfigWriters, *, batch_rows: int) -> None:
    """Streams the rejected rows, every column kept, into the "rejected" config (none when there are none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rejected = sorted((folder / layout.REJECTED).glob("*.parquet"))
    rej_schema = pq.read_schema(rejected[0]) if rejected else None
    for p in rejected:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=batch_rows):
            writers.get("rejected", out / "rejected", rej_schema).add_table(
                pa.Table.from_batches([batch]).cast(rej_schema))


def _write_records(out: Path, folder: Path, out_schema, configs: dict, rows: dict) -> None:
    """factory_schema.json (compared on re-publish) and factory_publish.json, each written atomically."""
    schema_text = out_schema.to_string(show_schema_metadata=False)
    atomic_write_json(out / "factory_schema.json", {"format": "r1-factory.dataset/1", "schema": schema_text})
    atomic_write_json(out / "factory_publish.json", {
        "format": "r1-factory.dataset/1", "schema": schema_text,
        "configs": configs, "rows": rows, "source": public_name(folder)})  # no local path on the Hub


def stage(folder: Path, out: Path, *, with_rejected: bool = False, max_file_mb: int = 500,
          max_row_group_mb: int = 100, batch_rows: int = 2048) -> Staged:
    """Stages the filter output `folder` as a Hub dataset repo in `out`, an empty folder the caller holds
    (factory/core/outdir.py), laid out as in this module's docstring. The card's numbers (`Staged.stats`)
    are counted from the rows; InputError when `folder` has no valid stats.json, no accepted row, or a
    stats.json that disagrees with its rows."""
    import pyarrow as pa

    folder = Path(folder)
    stats = _read_stats(folder)
    accepted, schema = _accepted_files(folder)
    stats = {**stats, **_row_counts(folder, accepted, stats)}
    out_schema = pa.schema([schema.field(n) for n in schema.names if n not in DROP])
    per_domain = _splits_by_domain(accepted, schema)

    (out / "data").mkdir(parents=True, exist_ok=True)
    writers = _ConfigWriters(max_file_mb, max_row_group_mb)
    lengths = _write_accepted(accepted, out_schema, out, writers, per_domain=per_domain, batch_rows=batch_rows)
    _write_hard(folder, out_schema, out, writers, batch_rows=batch_rows)
    if with_rejected:
        _write_rejected(folder, out, writers, batch_rows=batch_rows)

    configs, rows = writers.close(out)
    staged = Staged(root=out, configs=configs, rows=rows, schema=out_schema, stats=stats, lengths=lengths,
                    generation=_generation(stats))
    _write_records(out, folder, out_schema, configs, rows)
    return staged


def accepted_rows_by_key(folder: Path) -> dict:
    """The accepted rows as published (reject columns dropped), keyed for comparison."""
    import pyarrow.parquet as pq

    table = pq.ParquetDataset(Path(folder) / layout.ACCEPTED).read()
    table = table.drop_columns([c for c in DROP if c in table.schema.names])
    out = defaultdict(list)
    for r in table.to_pylist():
        out[(r.get("problem_id"), r.get("sample"))].append(r)
    return out
