"""`factory.filter --backend ray`: the filter chain as Ray Data stages, same outputs as local.

1. Row-wise (Ray Data `map_batches` over the trace shards, `--workers` actors): each actor
   reads its Parquet row groups itself, runs every stateless filter up to the first rejection
   plus the answer check (filters/chain.py `_judge`), settles math-verify answers in its own
   pebble process with the same hard time limit, and returns per row only the decision, the
   answer verdict and dedup's features (small columns; the traces stay where they are).
2. Grouped: dedup, per-problem caps included, needs a problem's rows in input order and
   nothing else, so it runs as `groupby(dedup group).map_groups`, each group sorted by input
   position.
3. The driver reads the input once more in order, attaches the decisions and writes accepted/,
   rejected/, stats.json, problems.parquet and funnel.png exactly as the local backend does
   (`_Run._write`, `_Run._check_and_publish`), conservation check included.

Problems are scanned, and the filters prepared (dedup's same-problem groups, decontamination's
input-wide phrases), in the driver before stage 1, as locally. So the accepted and rejected sets,
their order, the funnel and stats.json are bit-identical to the local backend's on the same input
(tests/test_ray.py compares them). JSONL and Hub inputs are read by the driver and handed over
as blocks; Parquet (a generate run's shards) is read by the actors from a path every node sees.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from factory.core.errors import InputError
from factory.core.inputs import open_parquet, parquet_batches
from factory.core.layout import data_suffix
from factory.core.progress import Progress
from filters.base import Reason
from filters.chain import _Run, _init_worker, _judge, _verify, remember, settle, verify_result, view_rows

# Output of stage 1 and 2, per input row.
_DECISION = ("pos", "filter", "reason", "detail", "answer")


class _Judge:
    """Stage 1 actor: the stateless filters and the answer check over its slices of the input."""

    def __init__(self, filters: list, dedup, groups: dict, columns, majority: dict, verify_timeout: float,
                 batch_rows: int):
        from pebble import ProcessPool

        _init_worker(filters, dedup)   # the local workers' set-up: quiet math-verify, deferred verifies

        self.columns, self.majority, self.timeout, self.batch_rows = columns, majority, verify_timeout, batch_rows
        self.dedup, self.groups = dedup, groups   # groups: dedup's prepared problem id → group id
        self.pool = ProcessPool(max_workers=1)
        self.verified: dict[tuple, str] = {}

    def _verdict(self, pair: tuple) -> str:
        if pair not in self.verified:
            remember(self.verified, pair, verify_result(self.pool.schedule(_verify, args=pair, timeout=self.timeout)))
        return self.verified[pair]

    def __call__(self, items: dict) -> dict:
        out: dict[str, list] = {k: [] for k in (*_DECISION, "problem_id", "group", "eligible", "key", "sig")}
        for item in _unpack(items):
            pos = item["offset"]
            for table in _read(item, self.batch_rows):
                rows = view_rows(table, self.columns, derive=False)
                if self.majority:
                    for r in rows:
                        if r["answer"] in (None, ""):
                            r["_majority"] = self.majority.get(r["problem_id"])
                for row, v in zip(rows, _judge(rows)):
                    first = settle(v, self._verdict)
                    eligible = first is None and self.dedup is not None
                    name, reason = (first[1], first[2]) if first is not None else (None, None)
                    detail = reason.detail if isinstance(reason, Reason) else None
                    key, sig = v.features if eligible else (None, None)
                    out["pos"].append(pos)
                    out["filter"].append(name)
                    out["reason"].append(None if reason is None else str(reason))
                    out["detail"].append(json.dumps(detail, ensure_ascii=False) if detail else None)
                    out["answer"].append(v.answer)
                    out["problem_id"].append(row["problem_id"])
                    out["group"].append(self.groups.get(row["problem_id"], row["problem_id"]))
                    out["eligible"].append(eligible)
                    out["key"].append(key)
                    out["sig"].append(None if sig is None else sig.tobytes())
                    pos += 1
        return _table(out)


def _table(out: dict):
    import pyarrow as pa

    types = {"pos": pa.int64(), "filter": pa.string(), "reason": pa.string(), "detail": pa.string(),
             "answer": pa.string(), "problem_id": pa.string(), "group": pa.string(), "eligible": pa.bool_(), "key": pa.binary(),
             "sig": pa.binary()}
    return pa.table({k: pa.array(v, type=types[k]) for k, v in out.items()})


def _unpack(items: dict) -> list[dict]:
    n = len(items["offset"])
    return [{k: items[k][i] for k in items} for i in range(n)]


def _read(item: dict, batch_rows: int):
    """Tables of the item's rows: Parquet row groups read here, or a block the driver put."""
    import pyarrow as pa

    from filters.source import _conform

    schema = pa.ipc.read_schema(pa.py_buffer(item["schema"]))
    if item["file"]:
        pf = open_parquet(item["file"])
        present = [c for c in schema.names if c in set(pf.schema_arrow.names)]
        for b in parquet_batches(item["file"], batch_rows, present, pf=pf, row_groups=[int(item["row_group"])]):
            yield _conform(pa.Table.from_batches([b]), schema, item["file"])
    else:
        import ray

        yield ray.get(item["block"])


class _Dedup:
    """Stage 2: one dedup group's eligible rows in input order; the others pass through."""

    def __init__(self, dedup):
        self.dedup = dedup

    def __call__(self, group):
        import numpy as np
        import pyarrow as pa

        order = np.argsort(group.column("pos").to_numpy(), kind="stable")
        group = group.take(pa.array(order))
        filt, reason, detail = (group.column(c).to_pylist() for c in ("filter", "reason", "detail"))
        for i, (eligible, pid, key, sig) in enumerate(zip(*(group.column(c).to_pylist() for c in
                                                            ("eligible", "problem_id", "key", "sig")))):
            if not eligible:
                continue
            features = (key, None if sig is None else np.frombuffer(sig, dtype=np.uint32))
            r = self.dedup.reject({"problem_id": pid, "_dedup": features})
            if r:
                filt[i], reason[i] = "dedup", str(r)
                if isinstance(r, Reason) and r.detail:
                    detail[i] = json.dumps(r.detail, ensure_ascii=False)
        return pa.table({"pos": group.column("pos"), "filter": pa.array(filt, pa.string()),
                         "reason": pa.array(reason, pa.string()), "detail": pa.array(detail, pa.string()),
                         "answer": group.column("answer")})


class RayRun(_Run):
    """A filter run whose per-row work and dedup run on a Ray cluster; writing stays here."""

    def go(self):
        import ray
        import ray.data
        from ray.data import ActorPoolStrategy

        fconfig, source = self.fconfig, self.source
        majority = self._prepare()
        n = fconfig.n_workers
        features = dataclasses.replace(self.dedup) if self.dedup is not None else None
        wanted = [self.columns.problem, self.columns.answer, self.columns.id, self.columns.completion,
                  "reasoning", "response", "finish_reason", "domain", "tests"]
        items = _work_items(source, wanted, fconfig.batch_rows)
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        judged = ds.map_batches(
            _Judge, batch_size=1, batch_format="numpy",
            fn_constructor_kwargs={"filters": self.stateless, "dedup": features, "columns": self.columns,
                                   "groups": self.dedup._group if self.dedup is not None else {},
                                   "majority": majority, "verify_timeout": fconfig.verify_timeout,
                                   "batch_rows": fconfig.batch_rows},
            compute=ActorPoolStrategy(min_size=1, max_size=n, initial_size=n), num_cpus=1,
            max_restarts=-1, max_task_retries=-1)
        if self.dedup is not None:
            decided_ds = judged.groupby("group").map_groups(_Dedup, fn_constructor_kwargs={"dedup": self.dedup},
                                                            batch_format="pyarrow",
                                                            compute=ActorPoolStrategy(min_size=1, max_size=n))
        else:
            decided_ds = judged.select_columns(list(_DECISION))
        try:
            decisions = _collect(decided_ds, source.num_rows)
        except ray.exceptions.RayTaskError as e:  # bad input found by a worker: one line, as locally
            if isinstance(e.cause, InputError):
                raise e.cause from None
            raise
        self._write_all(decisions)
        self._check_and_publish()
        return self.report

    def _write_all(self, decisions: list) -> None:
        """The input once more, in order, each batch written with its decisions."""
        self._open_writers("rows written")
        pos = 0
        for table in self.source.batches(self.fconfig.batch_rows):
            rows = view_rows(table, self.columns, derive=False)
            self._write(table, rows, decisions[pos:pos + table.num_rows])
            pos += table.num_rows
        self._close_writers()


def _collect(decided_ds, total: int) -> list:
    """(filter, reason, answer) per input position, from the Ray stages' output."""
    decisions: list[Any] = [None] * total
    progress = Progress(total, unit="rows judged")
    for b in decided_ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        for pos, name, reason, detail, answer in zip(*(b.column(c).to_pylist() for c in _DECISION)):
            if reason is not None and detail is not None:
                reason = Reason(reason, **json.loads(detail))
            decisions[pos] = (name, reason, answer)
        progress.update(b.num_rows)
    progress.close()
    if any(d is None for d in decisions):
        from factory.core.errors import RuntimeFailure

        raise RuntimeFailure(f"the Ray stages decided {sum(d is not None for d in decisions)} of {total} rows")
    return decisions


def _work_items(source, columns: list[str], batch_rows: int) -> list[dict]:
    """The input as slices in its read order (filters/source.py `TraceSource.batches`): one per
    Parquet row group, read by the actor that takes it; JSON or Hub rows as blocks put here."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    schema = pa.schema([source.schema.field(c) for c in source.schema.names if c in set(columns)])
    packed = schema.serialize().to_pybytes()
    items, offset = [], 0
    for f in source.files:
        if data_suffix(f) != ".parquet":
            continue
        meta = pq.read_metadata(f)
        for g in range(meta.num_row_groups):
            items.append({"file": str(f.resolve()), "row_group": g, "offset": offset, "block": None,
                          "schema": packed})
            offset += meta.row_group(g).num_rows
    if source._json is not None or not source.files:
        for table in source.other_batches(batch_rows * 16, columns=columns):
            items.append({"file": "", "row_group": -1, "offset": offset, "block": ray.put(table),
                          "schema": packed})
            offset += table.num_rows
    return items

