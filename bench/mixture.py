"""Building R1's 800k mixture (students/mixture.py) vs a naive read-all build, side by side in one run.

Data: two synthetic sources written as Parquet under a temporary folder, the R1 shape:
  reasoning   600k trace rows of a filter output (accepted/ shards, stats.json): problem_id, sample,
              domain, prompt (~150 chars), reasoning (lognormal, median ~1.1 KB), response (~120 chars)
  general     200k SFT rows with a `messages` column (a user turn, an assistant turn of ~0.6 KB)
built into one mixture by students/mixtures/r1.yaml's shape (rows: 600000 and rows: 200000).

  mixture   students/mixture.py `build`: polars lazy scans, seeded hashes, cross-source dedup,
            shards written through a per-shard spill, rows.parquet, mixture.json, the source table
  naive     pyarrow reads every source whole, Python shuffles the row indices (random.Random(seed)),
            the tables are taken and concatenated, one Parquet file written: the same rows' worth of
            work without the record, the dedup or the bounded memory

Each side runs in its own process, so its peak RSS (getrusage ru_maxrss) is its own.

    python bench/mixture.py                 # 600k + 200k rows
    python bench/mixture.py --scale 0.1     # 60k + 20k, for a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from factory.core.machine import cpu_line  # noqa: E402
from students import mixture  # noqa: E402

# English letter frequencies (and spaces, full stops), as a 256-entry table indexed by a random byte:
# text that compresses like prose, not like one sentence repeated.
_FREQ = {" ": 36, "e": 25, "t": 18, "a": 16, "o": 15, "i": 14, "n": 14, "s": 13, "h": 12, "r": 12, "d": 8,
         "l": 8, "u": 6, "c": 6, "m": 5, "w": 5, "f": 4, "g": 4, "y": 4, "p": 4, "b": 3, "v": 2, "k": 1, "x": 1,
         ".": 3, "1": 1, "2": 1, "=": 1}


def _table():
    import numpy as np

    letters = "".join(c * n for c, n in _FREQ.items())
    return np.frombuffer((letters * (256 // len(letters) + 1))[:256].encode(), dtype=np.uint8)


def _text(n: int, seed: int, median: float, sigma: float, cap: int):
    """n strings of random prose-like letters, lognormal lengths (median, sigma, + 20), at most `cap`."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.lognormal(np.log(median), sigma, n).astype(np.int64) + 20, cap)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = _table()[rng.integers(0, 256, int(offsets[-1]), dtype=np.uint8)]
    return pl.from_arrow(pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)))


def _reasoning_shard(start: int, n: int):
    import polars as pl

    i = pl.int_range(start, start + n, eager=True)
    pid = "p" + (i // 4).cast(pl.String)
    return pl.DataFrame({"problem_id": pid, "sample": (i % 4).cast(pl.Int32),
                         "domain": pl.Series(["math", "code", "puzzle"] * (n // 3 + 1))[:n],
                         "prompt": "Problem " + pid + ": " + _text(n, 3 * start + 1, 140, 0.3, 600),
                         "reasoning": _text(n, 3 * start + 2, 1100, 0.6, 8000),
                         "response": "The answer is \\boxed{" + i.cast(pl.String) + "}. "
                                     + _text(n, 3 * start + 3, 100, 0.3, 400)})


def _write(df, path: Path) -> None:
    """zstd Parquet, dictionary-encoding only the short repeated columns (as a filter's shards hold them)."""
    import pyarrow.parquet as pq

    pq.write_table(df.to_arrow(), path, compression="zstd", row_group_size=10_000,
                   use_dictionary=[c for c in ("domain", "sample") if c in df.columns])


def make_sources(root: Path, reasoning_rows: int, general_rows: int) -> tuple[Path, Path]:
    import json

    import polars as pl

    run = root / "r1-reasoning-filtered"
    (run / "accepted").mkdir(parents=True)
    step = 50_000
    for k in range(0, reasoning_rows, step):
        _write(_reasoning_shard(k, min(step, reasoning_rows - k)), run / "accepted" / f"shard-{k // step:06d}.parquet")
    (run / "stats.json").write_text(json.dumps({"input_rows": 2 * reasoning_rows, "accepted": reasoning_rows,
                                                "funnel": []}))
    general = root / "r1-general.parquet"
    g = pl.DataFrame({"u": "Q" + pl.int_range(general_rows, eager=True).cast(pl.String) + ": "
                      + _text(general_rows, 4, 90, 0.4, 400), "a": _text(general_rows, 5, 600, 0.6, 4000)})
    _write(g.select(messages=pl.concat_list(pl.struct(role=pl.lit("user"), content="u"),
                                            pl.struct(role=pl.lit("assistant"), content="a")),
                    domain=pl.lit("general")), general)
    return run, general


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KB on Linux


def run_mixture(spec: Path, out: Path, q) -> None:
    t = time.perf_counter()
    result = mixture.build(mixture.load(spec, check_sources=False), out)
    q.put((time.perf_counter() - t, sum(result.rows.values()), _peak_mb()))


def run_naive(sources: list[list[Path]], counts: list[int], out: Path, q) -> None:
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    t = time.perf_counter()
    rng = random.Random(42)
    parts = []
    for files, n in zip(sources, counts):
        table = pa.concat_tables([pq.read_table(f) for f in files])
        parts.append(table.take(sorted(rng.sample(range(table.num_rows), n))))
    whole = pa.concat_tables(parts, promote_options="default")
    order = list(range(whole.num_rows))
    rng.shuffle(order)
    out.mkdir(parents=True)
    pq.write_table(whole.take(order), out / "train.parquet", compression="zstd")
    q.put((time.perf_counter() - t, whole.num_rows, _peak_mb()))


def side(target, *args) -> tuple[float, int, float]:
    ctx = mp.get_context("spawn")   # polars' thread pool does not survive a fork
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    got = q.get()
    p.join()
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of 600k + 200k rows")
    args = ap.parse_args()
    n_reason, n_general = int(600_000 * args.scale), int(200_000 * args.scale)
    root = Path(tempfile.mkdtemp(prefix="bench-mixture-"))
    try:
        t = time.perf_counter()
        run, general = make_sources(root, n_reason, n_general)
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e6
        print(cpu_line())
        print(f"sources: {n_reason:,} reasoning + {n_general:,} general rows, {size:,.0f} MB of Parquet "
              f"(zstd), made in {time.perf_counter() - t:.0f} s")
        spec = root / "r1.yaml"
        spec.write_text(f"dataset_mixture:\n  datasets:\n    - id: {run}\n      rows: {n_reason}\n"
                        f"    - id: {general}\n      rows: {n_general}\n  seed: 42\n")
        files = [sorted((run / "accepted").glob("*.parquet")), [general]]
        results = {"mixture (polars)": side(run_mixture, spec, root / "mix"),
                   "naive (pyarrow read-all)": side(run_naive, files, [n_reason, n_general], root / "naive")}
        print(f"{'side':<26}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>14}")
        for name, (secs, rows, peak) in results.items():
            print(f"{name:<26}{rows:>10,}{secs:>10.1f}{rows / secs:>12,.0f}{peak:>14,.0f}")
        (m_s, _, m_mb), (n_s, _, n_mb) = results.values()
        print(f"mixture / naive: {n_s / m_s:.2f}x the rows/s, {m_mb / n_mb:.2f}x the peak memory")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
