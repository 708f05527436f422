"""The Ray executor: the filter run's steps as Ray Data stages on a Ray cluster, same outputs as local.

1. Map (Ray Data `map_batches` over slices of the input, `workers` actors): each actor reads its
   Parquet row groups itself, runs the judge step, settles math-verify answers in its own pebble
   process with the same hard time limit (`Verifies`), and returns per row only the decision,
   the answer verdict, the group filters' features and groups (small columns; the traces stay
   where they are).
   With a generative judge, each row the judge must see also carries its prompt and the rule's
   verdict; the driver then judges those (the referee step, where the judge's teacher is: this
   process) between the two stages.
2. Group, for each group filter: `groupby(its group).map_groups`, each group sorted by input
   position, the grouped step over the rows still in.
3. The decisions come back to the driver, which reads the input once more in order and hands each
   batch back with its decisions, for the output step.

JSONL and Hub inputs are read by the driver and handed over as blocks; Parquet (a generate run's
shards) is read by the actors from a path every node sees.
"""

from __future__ import annotations

import pickle
from typing import Any, Iterator

from pebble import ProcessPool

from factory.core.errors import InputError, RuntimeFailure
from factory.core.progress import Progress
from factory.core.ray import connect
from filters.base import Reason
from filters.executor.base import Steps
from filters.pipeline.group import GroupStep
from filters.pipeline.judge import Verdict, Verifies
from filters.pipeline.referee import Referee
from filters.pipeline.rows import Batch, Decision
from filters.source import TraceSource, parquet_tables

# What the stages return per input row, and what the driver reads of it.
_DECISION = ("pos", "filter", "reason", "detail", "answer")
_JUDGED = ("judge_rule", "judge_message")   # for the referee step: the rule's verdict, the judge's prompt
_VERDICTS = ("correct_rule", "correct_judge", "judge_reason")   # what the referee step adds


class RayExecutor:
    unit = "rows written"

    def __init__(self, workers: int, batch_rows: int, *, address: str | None = None, verbose: bool = False):
        """`workers`: actors of the map stage (0: one per cluster CPU)."""
        self.workers, self.batch_rows, self.address, self.verbose = workers, batch_rows, address, verbose
        self.started = False

    def __enter__(self) -> "RayExecutor":
        import ray

        self.started = connect(self.address, self.verbose)
        try:
            if not self.workers:
                self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self.started:
            ray.shutdown()

    def run(self, steps: Steps, source: TraceSource) -> Iterator[Batch]:
        import ray

        decided = self._stages(steps, source)
        try:
            wanted = [*_DECISION, *(_VERDICTS if steps.referee.active else ())]
            decisions = _collect(decided.select_columns(wanted), source.num_rows)
        except ray.exceptions.RayTaskError as e:  # bad input found by a worker: one line, as locally
            if isinstance(e.cause, InputError):
                raise e.cause from None
            raise
        pos = 0
        for table in source.batches(self.batch_rows):
            yield Batch(table, steps.view(table), decisions[pos:pos + table.num_rows])
            pos += table.num_rows

    def _stages(self, steps: Steps, source: TraceSource):
        """The lazy Ray Data plan: map the judge step, then group for each group filter."""
        import ray.data
        from ray.data import ActorPoolStrategy

        n = self.workers
        items = _work_items(source, steps.view.wanted, self.batch_rows)
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(_Judge, batch_size=1, batch_format="numpy",
                            fn_constructor_kwargs={"steps": steps, "batch_rows": self.batch_rows},
                            compute=ActorPoolStrategy(min_size=1, max_size=n, initial_size=n), num_cpus=1,
                            max_restarts=-1, max_task_retries=-1)
        if steps.referee.active:
            ds = _refereed(ds, steps.referee)
        for i, step in enumerate(steps.group.split()):
            ds = ds.groupby(f"group_{i}").map_groups(_Grouped, fn_constructor_kwargs={"step": step, "index": i},
                                                     batch_format="pyarrow",
                                                     compute=ActorPoolStrategy(min_size=1, max_size=n))
        return ds


class _Judge:
    """Stage 1 actor: the judge step over its slices of the input, answers settled here."""

    def __init__(self, steps: Steps, batch_rows: int):
        steps.judge.setup()
        self.steps, self.batch_rows = steps, batch_rows
        self.verifies = Verifies(ProcessPool(max_workers=1), steps.judge.verify_timeout)

    def __call__(self, items: dict) -> dict:
        groups, referee = self.steps.group.filters, self.steps.referee
        out: dict[str, list] = {k: [] for k in (*_DECISION, *_JUDGED, "problem_id", *_group_columns(len(groups)))}
        for item in _unpack(items):
            pos = item["offset"]
            for table in _read(item, self.batch_rows):
                rows = self.steps.view(table)
                verdicts = self.steps.judge(rows)
                for v in verdicts:
                    v.settle_answer(self.verifies.verdict)
                asks = {id(v): (rule, message) for v, rule, message in
                        (referee.select(rows, verdicts) if referee.active else [])}
                for row, v in zip(rows, verdicts):
                    rule, message = asks.get(id(v), (None, None))
                    out["judge_rule"].append(rule)
                    out["judge_message"].append(message)
                    first = v.first_rejection()
                    name, reason = (first[1], first[2]) if first is not None else (None, None)
                    text, detail = Reason.encode(reason)
                    for k, value in zip(_DECISION, (pos, name, text, detail, v.answer)):
                        out[k].append(value)
                    out["problem_id"].append(row["problem_id"])
                    for i, g in enumerate(groups):
                        out[f"group_{i}"].append(g.group(row["problem_id"]))
                        out[f"features_{i}"].append(pickle.dumps(v.features[i]) if v.features is not None else None)
                    pos += 1
        return _table(out)


def _group_columns(n: int) -> list[str]:
    return [c for i in range(n) for c in (f"group_{i}", f"features_{i}")]


def _table(out: dict):
    import pyarrow as pa

    types = {"pos": pa.int64(), "filter": pa.string(), "reason": pa.string(), "detail": pa.string(),
             "answer": pa.string(), "problem_id": pa.string(), "judge_rule": pa.bool_(), "judge_message": pa.string()}
    return pa.table({k: pa.array(v, type=types.get(k, pa.binary() if k.startswith("features_") else pa.string()))
                     for k, v in out.items()})


def _unpack(items: dict) -> list[dict]:
    n = len(items["offset"])
    return [{k: items[k][i] for k in items} for i in range(n)]


def _read(item: dict, batch_rows: int):
    """Tables of the item's rows: Parquet row groups read here, or a block the driver put."""
    import pyarrow as pa
    import ray

    schema = pa.ipc.read_schema(pa.py_buffer(item["schema"]))
    if item["file"]:
        yield from parquet_tables(item["file"], batch_rows, schema, row_groups=[int(item["row_group"])])
    else:
        yield ray.get(item["block"])


class _Grouped:
    """Stage 2, for group filter `index`: one group's rows in input order, the grouped step over
    those still in; the others pass through."""

    def __init__(self, step: GroupStep, index: int):
        self.step, self.index = step, index

    def __call__(self, group):
        import numpy as np
        import pyarrow as pa

        order = np.argsort(group.column("pos").to_numpy(), kind="stable")
        group = group.take(pa.array(order))
        filt, reason, detail = (group.column(c).to_pylist() for c in ("filter", "reason", "detail"))
        features = group.column(f"features_{self.index}").to_pylist()
        for i, pid in enumerate(group.column("problem_id").to_pylist()):
            if filt[i] is not None or features[i] is None:
                continue
            dropped = self.step.decide(pid, [pickle.loads(features[i])])
            if dropped:
                filt[i] = dropped[0]
                reason[i], detail[i] = Reason.encode(dropped[1])
        for name, values in (("filter", filt), ("reason", reason), ("detail", detail)):
            group = group.set_column(group.schema.get_field_index(name), name, pa.array(values, pa.string()))
        return group


def _refereed(ds, referee: Referee):
    """The referee step between the Ray stages: the rows that carry a judge's prompt are judged here,
    in the driver (where the judge's teacher is), and their decision columns rewritten."""
    import pyarrow as pa
    import ray.data

    tables = list(ds.iter_batches(batch_size=None, batch_format="pyarrow"))
    wanted, cells = [], []
    for ti, t in enumerate(tables):
        answers = t.column("answer").to_pylist()
        for ri, (rule, message) in enumerate(zip(*(t.column(c).to_pylist() for c in _JUDGED))):
            if message is not None:
                v = Verdict(answer=answers[ri])
                wanted.append((v, rule, message))
                cells.append((ti, ri, v))
    referee.settle(wanted)
    columns = [{c: t.column(c).to_pylist() for c in ("filter", "reason", "detail", "answer")} |
               {c: [None] * t.num_rows for c in _VERDICTS} for t in tables]
    for ti, ri, v in cells:  # a judged row had no other rejection: its answer is its decision
        col = columns[ti]
        col["answer"][ri] = v.answer
        col["filter"][ri], reason = (None, None) if v.answer == "correct" else (referee.check, v.answer)
        col["reason"][ri], col["detail"][ri] = Reason.encode(reason)
        col["correct_rule"][ri], col["correct_judge"][ri], col["judge_reason"][ri] = v.judged
    types = {"correct_rule": pa.bool_(), "correct_judge": pa.bool_()}
    out = []
    for t, col in zip(tables, columns):
        t = t.drop_columns([c for c in col if c in t.schema.names])
        for name, values in col.items():
            t = t.append_column(name, pa.array(values, types.get(name, pa.string())))
        out.append(t)
    return ray.data.from_arrow(out)


def _collect(decided_ds, total: int) -> list[Decision]:
    """The decision of every input position, from the Ray stages' output."""
    decisions: list[Any] = [None] * total
    progress = Progress(total, unit="rows judged")
    for b in decided_ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        judged = zip(*(b.column(c).to_pylist() for c in _VERDICTS)) if "judge_reason" in b.schema.names \
            else [None] * b.num_rows
        for (pos, name, reason, detail, answer), j in zip(zip(*(b.column(c).to_pylist() for c in _DECISION)), judged):
            decisions[pos] = Decision(name, Reason.decode(reason, detail), answer,
                                      j if j is not None and j[2] is not None else None)
        progress.update(b.num_rows)
    progress.close()
    if any(d is None for d in decisions):
        raise RuntimeFailure(f"the Ray stages decided {sum(d is not None for d in decisions)} of {total} rows")
    return decisions


def _work_items(source: TraceSource, columns: list[str], batch_rows: int) -> list[dict]:
    """The input as slices in its read order (`TraceSource.batches`): one per Parquet row group,
    read by the actor that takes it; JSON or Hub rows as blocks put here."""
    import pyarrow.parquet as pq
    import ray

    packed = source.schema_of(columns).serialize().to_pybytes()
    items, offset = [], 0
    for f in source.parquet_files():
        meta = pq.read_metadata(f)
        for g in range(meta.num_row_groups):
            items.append({"file": str(f.resolve()), "row_group": g, "offset": offset, "block": None,
                          "schema": packed})
            offset += meta.row_group(g).num_rows
    if source.has_other_rows:
        for table in source.other_batches(batch_rows * 16, columns=columns):
            items.append({"file": "", "row_group": -1, "offset": offset, "block": ray.put(table),
                          "schema": packed})
            offset += table.num_rows
    return items
