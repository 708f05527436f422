"""The row work of a mixture (students/mixture.py), streamed with polars: no source is ever held whole.

1. `keys`: one small row per source row (its index, key, content hash), from a lazy scan that reads
   only the key columns and hashes the text columns in polars.
2. Cross-source duplicates: a row whose prompt and completion (or messages) are in an earlier source.
3. `choose`: each source's rows ranked by blake2b(seed, source id, row key), the first N taken (the
   last of them held out as `test`); every taken row placed by a second hash: the output order, which
   interleaves the sources. The key is `problem_id` + `sample` where the source has them, else the
   row's index: a source whose files are reordered gives the same rows when it has them. blake2b,
   not polars' hash, because polars does not promise the same hash across its versions.
4. `write`: each source scanned once, its taken rows routed by output shard into spill files, then
   each shard read back alone, sorted into place and written: memory holds one shard (sized from the
   sources' bytes per row), whatever the mixture's size.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from factory.core import layout
from factory.core.inputs import open_parquet
from factory.core.progress import Progress
from factory.core.shards import ShardWriter

KEY_DOC = "problem_id + sample where a source has them (problem_id + row index with no sample), else the row index"
SHARD_BYTES = 256 << 20        # uncompressed bytes per output shard: what one shard's sort holds in memory
_HASH_ROWS = 100_000           # keys hashed per Python batch
_BATCH_ROWS = 8_192            # rows per streamed batch when routing
_HELPERS = ("_pos", "_src", "_row")


def parquet_shape(files: list[Path]) -> tuple[int, list[str]]:
    """Rows and column names (in first-seen order) of Parquet files, from their footers."""
    rows, names = 0, {}
    for f in files:
        pf = open_parquet(f)
        rows += pf.metadata.num_rows
        names.update(dict.fromkeys(pf.schema_arrow.names))
    return rows, list(names)


def _row_bytes(files: list[Path]) -> float:
    total = rows = 0
    for f in files:
        meta = open_parquet(f).metadata
        total += sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        rows += meta.num_rows
    return total / max(1, rows)


def file_record(path: Path) -> dict:
    """A source file as mixture.json records it: a changed size or time says the source changed."""
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def copy_dataset(ds, path: Path) -> Path:
    """A `datasets.Dataset` (a Hub or JSON source) written to Parquet, once, to be scanned like the others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return path


def versions() -> dict:
    import polars as pl
    import pyarrow as pa

    return {"polars": pl.__version__, "pyarrow": pa.__version__}


def scan(files: list[Path], columns: list[str]):
    """A lazy frame over a source's Parquet files (files that differ in columns are unified), the
    kept `columns` only, a row index `_row` in file order, and a `source` column of its own renamed
    `source_original` (the mixture's `source` says which source a row came from)."""
    import polars as pl

    frames = [pl.scan_parquet(f) for f in files]
    lf = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    lf = lf.select(columns)
    if "source" in columns:
        lf = lf.rename({"source": "source_original"})
    return lf.with_row_index("_row")


# -- 1. keys ----------------------------------------------------------------------------------------

def _content(names: set[str]):
    """The hash of what a student is trained on (prompt and completion, history, messages), in one
    shape for every source so that equal rows of two sources hash alike; None without such columns."""
    import polars as pl

    prompt = next((pl.col(c).cast(pl.String) for c in ("prompt", "problem") if c in names), pl.lit(None, pl.String))
    if "completion" in names:
        answer = pl.col("completion").cast(pl.String)
    elif {"reasoning", "response"} <= names:
        answer = pl.concat_str([pl.lit("<think>\n"), pl.col("reasoning"), pl.lit("\n</think>\n\n"), pl.col("response")])
    else:
        answer = pl.lit(None, pl.String)
    nested = {c: pl.col(c).hash(0) if c in names else pl.lit(None, pl.UInt64) for c in ("messages", "history")}
    if not names & {"prompt", "problem", "completion", "reasoning", "response", "messages"}:
        return None
    return pl.struct(p=prompt, a=answer, m=nested["messages"], h=nested["history"]).hash(20250122)


def keys(frames: list, ids: list[str], seed: int):
    """One row per source row: _src, _row, problem_id, sample, rank and pos (the two seeded hashes), fp
    (the content hash) and dup (its content is in an earlier source)."""
    import polars as pl

    parts = []
    for i, lf in enumerate(frames):
        names = set(lf.collect_schema().names())
        fp = _content(names)
        cols = [pl.col("_row"),
                (pl.col("problem_id").cast(pl.String) if "problem_id" in names else pl.lit(None, pl.String)).alias("problem_id"),
                (pl.col("sample").cast(pl.Int64) if "sample" in names else pl.lit(None, pl.Int64)).alias("sample"),
                (fp if fp is not None else pl.lit(None, pl.UInt64)).alias("fp")]
        df = lf.select(cols).collect(engine="streaming")
        rank, pos = _hashes(df, seed, ids[i])
        parts.append(df.with_columns(_src=pl.lit(i, pl.UInt16), rank=pl.Series(rank), pos=pl.Series(pos)))
    both = pl.concat(parts)
    first = both.filter(pl.col("fp").is_not_null()).group_by("fp").agg(pl.col("_src").min().alias("_first"))
    return (both.join(first, on="fp", how="left")
            .with_columns(dup=pl.col("_first").is_not_null() & (pl.col("_first") < pl.col("_src")))
            .drop("_first").sort(["_src", "_row"]))


def _hashes(df, seed: int, source: str):
    """blake2b(seed, source id, row key) per row, as two uint64 arrays: the rank and the place."""
    import numpy as np

    out = []
    prefix = f"{seed}\x1f{source}\x1f".encode()
    have_pid, have_sample = df["problem_id"].null_count() < df.height, df["sample"].null_count() < df.height
    for chunk in df.iter_slices(_HASH_ROWS):
        rows = chunk["_row"].to_list()
        if have_pid:
            tails = chunk["sample"].to_list() if have_sample else [f"#{r}" for r in rows]
            texts = [f"{p}\x1f{t}" for p, t in zip(chunk["problem_id"].to_list(), tails)]
        else:
            texts = [f"#{r}" for r in rows]
        out.append(b"".join(hashlib.blake2b(prefix + t.encode(), digest_size=16).digest() for t in texts))
    both = np.frombuffer(b"".join(out), dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return both[:, 0], both[:, 1]


def available(keys_df, n_sources: int) -> list[int]:
    """Rows of each source that are not in an earlier one."""
    import polars as pl

    counts = dict(keys_df.filter(~pl.col("dup")).group_by("_src").len().iter_rows())
    return [int(counts.get(i, 0)) for i in range(n_sources)]


# -- 2. choosing ------------------------------------------------------------------------------------

def choose(keys_df, taken: list[int], test: list[int]):
    """The taken rows: per source the `taken[i]` best-ranked rows that are not duplicates, the last
    `test[i]` of them in `test`; columns _src, _row, problem_id, sample, pos, split."""
    import polars as pl

    parts = []
    for i, (n, t) in enumerate(zip(taken, test)):
        pool = keys_df.filter((pl.col("_src") == i) & ~pl.col("dup")).sort(["rank", "_row"]).head(n)
        split = pl.when(pl.int_range(pl.len()) < n - t).then(pl.lit(layout.TRAIN)).otherwise(pl.lit(layout.TEST))
        parts.append(pool.with_columns(split=split))
    return pl.concat(parts).select("_src", "_row", "problem_id", "sample", "pos", "split")


def write_rows_file(chosen, ids: list[str], path: Path) -> None:
    """rows.parquet: which row of which source went into which split (row = the row's index in the
    source's files, in their sorted order)."""
    import polars as pl

    (chosen.sort(["_src", "_row"])
     .select(pl.col("_src").replace_strict(list(range(len(ids))), ids, return_dtype=pl.String).alias("source"),
             pl.col("_row").cast(pl.Int64).alias("row"), "problem_id", "sample", "split")
     .write_parquet(path, compression="zstd"))


# -- 3. writing -------------------------------------------------------------------------------------

def unified_schema(frames: list):
    """`source`, then every source's columns in first-seen order, each at the type all of them fit."""
    import polars as pl

    empties = [pl.DataFrame(schema={"source": pl.String, **{k: v for k, v in lf.collect_schema().items()
                                                            if k != "_row"}}).lazy() for lf in frames]
    return pl.concat(empties, how="diagonal_relaxed").collect_schema()


def write(frames: list, files: list[list[Path]], ids: list[str], chosen, out: Path) -> tuple[dict, list[str]]:
    """The taken rows into out/train/ (and out/test/) in their place order, as shard-*.parquet; returns
    split → shard files (relative to `out`) and the columns."""
    import polars as pl

    schema = unified_schema(frames)
    row_bytes = max(_row_bytes(f) for f in files)
    shard_rows = max(1_000, int(SHARD_BYTES / max(1.0, row_bytes)))
    placed = (chosen.sort(["split", "pos", "_src", "_row"])
              .with_columns(_shard=(pl.int_range(pl.len()).over("split") // shard_rows).cast(pl.UInt32)))
    spill = out / "_spill"
    buckets = _route(frames, ids, placed, schema, spill)
    written = {}
    for split in (layout.TRAIN, layout.TEST):
        names = sorted(k for k in buckets if k[0] == split)
        if names:
            written[split] = _assemble(split, [buckets[k] for k in names], out)
    shutil.rmtree(spill)
    return written, list(schema.names())


def _route(frames: list, ids: list[str], placed, schema, spill: Path) -> dict:
    """Each source scanned once; its taken rows, in the unified columns, appended to the spill of their
    (split, shard). Returns (split, shard) → the spill folder."""
    import polars as pl

    writers: dict[tuple, ShardWriter] = {}
    progress = Progress(placed.height, unit="rows mixed", work_unit="MB", work_scale=1e-6)
    for i, lf in enumerate(frames):
        sel = placed.filter(pl.col("_src") == i).select("_row", "pos", "split", "_shard")
        have = set(lf.collect_schema().names())
        cols = [(pl.col(c).cast(t) if c in have else pl.lit(None, t)).alias(c) for c, t in schema.items()
                if c != "source"]
        query = (lf.join(sel.lazy(), on="_row", how="inner")
                 .select(pl.lit(ids[i], pl.String).alias("source"), *cols, pl.col("pos").alias("_pos"),
                         pl.lit(i, pl.UInt16).alias("_src"), "_row", "split", "_shard"))
        for batch in query.collect_batches(chunk_size=_BATCH_ROWS):
            for (split, shard), part in batch.partition_by(["split", "_shard"], as_dict=True).items():
                table = part.drop("split", "_shard").to_arrow()
                key = (split, shard)
                if key not in writers:
                    writers[key] = ShardWriter(spill / f"{split}-{shard:06d}", table.schema, max_rows=1 << 62,
                                               max_bytes=1 << 62, flush_seconds=float("inf"),
                                               row_group_rows=_BATCH_ROWS, row_group_bytes=4 << 20,
                                               use_dictionary=False, compression="lz4")
                writers[key].add_table(table)
            progress.update(batch.height, batch.estimated_size())
    for w in writers.values():
        w.close()
    progress.close()
    return {k: w.directory for k, w in writers.items()}


def _assemble(split: str, spills: list[Path], out: Path) -> list[str]:
    """Each shard's spill read alone, sorted into place, written as out/split/shard-NNNNNN.parquet."""
    import polars as pl

    writer = None
    files = []
    for folder in spills:
        df = pl.scan_parquet(sorted(folder.glob("*.parquet"))).sort(list(_HELPERS)).drop(list(_HELPERS)).collect()
        table = df.to_arrow()
        if writer is None:
            writer = ShardWriter(out / split, table.schema, max_rows=1 << 62, max_bytes=1 << 62,
                                 flush_seconds=float("inf"), row_group_rows=1_000,
                                 use_dictionary=_short_columns(table.schema))
        writer.add_table(table.cast(writer.schema))
        files.append(str(writer.flush().relative_to(out)))
        shutil.rmtree(folder)
    return files


def _short_columns(schema) -> list[str]:
    """The columns worth a dictionary: everything but text and lists of it (prompts, traces, messages)."""
    import pyarrow as pa

    def texty(t) -> bool:
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or \
            ((pa.types.is_list(t) or pa.types.is_large_list(t)) and texty(t.value_type)) or \
            (pa.types.is_struct(t) and any(texty(f.type) for f in t))

    return [f.name for f in schema if not texty(f.type) or f.name in ("source", "domain", "split", "cot")]


# -- 4. the per-source table ------------------------------------------------------------------------

def source_table(out: Path, ids: list[str]) -> dict:
    """Per source, over the rows it gave: domains (rows per `domain`) and mean completion characters
    (the completion, else reasoning + response, else the assistant turns of `messages`)."""
    import polars as pl

    files = sorted((out / layout.TRAIN).glob("*.parquet")) + sorted((out / layout.TEST).glob("*.parquet"))
    lf = pl.scan_parquet(files)
    names = set(lf.collect_schema().names())
    lengths = []
    if "completion" in names:
        lengths.append(pl.col("completion").str.len_chars())
    if {"reasoning", "response"} <= names:
        lengths.append(pl.col("reasoning").str.len_chars() + pl.col("response").str.len_chars())
    if "messages" in names:
        turn = pl.element().struct
        lengths.append(pl.col("messages").list.eval(
            pl.when(turn.field("role") == "assistant").then(turn.field("content").str.len_chars())).list.sum())
    mean = pl.coalesce(lengths).mean() if lengths else pl.lit(None, pl.Float64)
    means = dict(lf.group_by("source").agg(mean.alias("m")).collect().iter_rows())
    domains: dict = {}
    if "domain" in names:
        for source, domain, n in lf.group_by("source", "domain").len().sort("source", "domain").collect().iter_rows():
            domains.setdefault(source, {})[domain or "(none)"] = n
    return {s: {"domains": domains.get(s, {}),
                "mean_completion_chars": round(means[s], 1) if means.get(s) is not None else None} for s in ids}
