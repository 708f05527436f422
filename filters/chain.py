"""The filter chain: shards in, accepted / rejected shards and a funnel out.

Work is spread over a pool of worker processes (pebble): each batch of rows
runs through every stateless filter there. A maths answer that needs
math-verify becomes its own pool task with a hard time limit; on timeout
pebble kills that worker and starts another, so the row is rejected as
`verify_timeout` and the run goes on. The filters after correctness are run
speculatively in the same pass, so a verified row needs no second trip.
Dedup, which remembers what it kept, runs last in this process in input
order. Output goes to `OUT.partial/` and is renamed to `OUT/` only once
accepted + rejected = input has been checked.
"""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory import lab
from factory.errors import InputError, RuntimeFailure
from factory.progress import Progress
from factory.shards import ShardWriter, atomic_write_json
from filters.config import FilterConfig
from filters.source import Columns, TraceSource

DEFER = "__verify__"
REJECT_COLUMNS = ("reject_reason", "reject_filter")


class _Defer:
    """Verifier used inside the workers: remember the pair, let the chain schedule it."""

    def __init__(self):
        self.pair = None

    def __call__(self, reference: str, predicted: str) -> str:
        self.pair = (reference, predicted)
        return DEFER


_WORKER: dict = {}


def _init_worker(config: dict) -> None:
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    cfg = FilterConfig(**config)
    defer = _Defer()
    filters = []
    for name in cfg.filters:
        if name == "dedup":
            _WORKER["dedup"] = cfg.build_one(name)
            continue
        f = cfg.build_one(name)
        if name == "correctness":
            f.verifier = defer
        filters.append(f)
    _WORKER.update(filters=filters, defer=defer)


def _first_rejection(filters, row) -> tuple[str | None, str | None, tuple | None]:
    for f in filters:
        try:
            reason = f.reject(row)
        except Exception as e:  # a filter bug costs one row, named, never the run
            reason = f"error:{type(e).__name__}"
        if reason == DEFER:
            return DEFER, f.name, _WORKER["defer"].pair
        if reason:
            return reason, f.name, None
    return None, None, None


def _stage_a(rows: list[dict]) -> list[tuple]:
    """Per row: (reason, filter, verify pair, reason-if-verified, filter-if-verified, dedup features)."""
    filters, dedup = _WORKER["filters"], _WORKER.get("dedup")
    out = []
    for row in rows:
        reason, name, pair = _first_rejection(filters, row)
        after = (None, None)
        if reason == DEFER:  # decide the rest now, assuming the answer verifies
            rest = filters[[f.name for f in filters].index(name) + 1:]
            r2, n2, _ = _first_rejection(rest, row)
            after = (r2, n2)
        feats = None
        if dedup is not None and (reason is None or (reason == DEFER and after[0] is None)):
            feats = dedup.features(row)
        out.append((reason, name, pair, after[0], after[1], feats))
    return out


@dataclass
class _Batch:
    table: object
    rows: list
    stage_a: object            # future of _stage_a
    results: list | None = None


@dataclass
class FilterRunConfig:
    input: str = field(default=str(lab.GENERATE_OUT), metadata={"help": "a generate run dir, Parquet/JSONL file or folder, or a Hub dataset id"})
    out: Path = field(default=lab.FILTER_OUT, metadata={"help": "output folder: accepted/, rejected/, stats.json, funnel.png"})
    config: Path | None = field(default=None, metadata={"help": "filters YAML (default: filters/default.yaml)"})
    problem_column: str = field(default="problem", metadata={"help": "column with the problem text"})
    answer_column: str = field(default="answer", metadata={"help": "column with the reference answer"})
    completion_column: str = field(default="completion", metadata={"help": "column with the full completion"})
    id_column: str = field(default="problem_id", metadata={"help": "column with the problem id (else a hash)"})
    split: str = field(default="train", metadata={"help": "split, for a Hub dataset"})
    workers: int = field(default=0, metadata={"help": "worker processes (default: the YAML's, else one per core)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output folder"})

    def __post_init__(self):
        self.out = Path(self.out)
        if self.workers < 0:
            raise ValueError("--workers must be >= 0")


def view_rows(table, columns: Columns) -> list[dict]:
    """The filters' view of a batch: their column names, derived fields filled in."""
    from generators.problems import as_text, content_id
    from generators.traces import split_completion

    names = set(table.schema.names)

    def col(name):
        return table.column(name).to_pylist() if name in names else [None] * table.num_rows

    problems, completions = col(columns.problem), col(columns.completion)
    answers, ids = col(columns.answer), col(columns.id)
    reasoning, response = col("reasoning"), col("response")
    finish, domain, tests = col("finish_reason"), col("domain"), col("tests")
    derive = "reasoning" not in names or "response" not in names
    rows = []
    for i in range(table.num_rows):
        c = completions[i]
        r, s = (split_completion(c) if isinstance(c, str) else ("", None)) if derive else (reasoning[i], response[i])
        p = problems[i]
        rows.append({"problem_id": str(ids[i]) if ids[i] is not None else content_id(p if isinstance(p, str) else ""),
                     "problem": p if isinstance(p, str) else as_text(p), "answer": as_text(answers[i]),
                     "completion": c, "reasoning": r, "response": s, "finish_reason": finish[i],
                     "domain": domain[i] or "math", "tests": tests[i]})
    return rows


def majority_answers(source: TraceSource, columns: Columns, batch_rows: int) -> dict[str, str]:
    """problem_id → the answer more than half of its reference-less samples give."""
    from filters.answers import extract_answer, normalise

    votes: dict[str, Counter] = defaultdict(Counter)
    surface: dict[tuple, str] = {}
    totals: Counter = Counter()
    for table in source.batches(batch_rows):
        for row in view_rows(table, columns):
            if row["answer"] not in (None, ""):
                continue
            totals[row["problem_id"]] += 1
            ans = extract_answer(row["response"] or "")
            if ans is not None:
                key = normalise(ans)
                votes[row["problem_id"]][key] += 1
                surface.setdefault((row["problem_id"], key), ans)
    out = {}
    for pid, counter in votes.items():
        key, n = counter.most_common(1)[0]
        if n * 2 > totals[pid]:
            out[pid] = surface[(pid, key)]
    return out


@dataclass
class Funnel:
    order: list[str]
    input_rows: int = 0
    accepted: int = 0
    reasons: dict = field(default_factory=lambda: defaultdict(Counter))      # filter → reason → n
    by_domain: dict = field(default_factory=lambda: defaultdict(Counter))    # domain → filter|accepted|input → n
    by_source: dict = field(default_factory=lambda: defaultdict(Counter))

    def add(self, domain: str, source: str, filt: str | None, reason: str | None) -> None:
        self.input_rows += 1
        key = filt or "accepted"
        if filt is None:
            self.accepted += 1
        else:
            self.reasons[filt][reason] += 1
        for group, name in ((self.by_domain, domain), (self.by_source, source)):
            group[name]["input"] += 1
            group[name][key] += 1

    def stages(self) -> list[dict]:
        remaining, out = self.input_rows, []
        for name in self.order:
            dropped = sum(self.reasons[name].values())
            out.append({"filter": name, "in": remaining, "rejected": dropped, "out": remaining - dropped,
                        "reasons": dict(self.reasons[name].most_common())})
            remaining -= dropped
        return out

    def table(self) -> str:
        lines = [f"{'filter':<16}{'in':>10}{'rejected':>10}{'out':>10}  top reasons"]
        for st in self.stages():
            top = ", ".join(f"{r} {n:,}" for r, n in list(st["reasons"].items())[:3])
            lines.append(f"{st['filter']:<16}{st['in']:>10,}{st['rejected']:>10,}{st['out']:>10,}  {top}")
        lines.append(f"{'accepted':<16}{'':>10}{'':>10}{self.accepted:>10,}")
        return "\n".join(lines)


def run(cfg: FilterRunConfig) -> Funnel:
    fconfig = FilterConfig.load(cfg.config)
    if cfg.workers:
        fconfig.workers = cfg.workers
    columns = Columns(problem=cfg.problem_column, answer=cfg.answer_column, completion=cfg.completion_column,
                      id=cfg.id_column)
    source = TraceSource(cfg.input, columns, split=cfg.split)
    try:
        return _filter(cfg, fconfig, columns, source)
    finally:
        source.close()


def _filter(cfg: FilterRunConfig, fconfig: FilterConfig, columns: Columns, source: TraceSource) -> Funnel:
    import pyarrow as pa
    from pebble import ProcessExpired, ProcessPool

    out = cfg.out
    if out.exists() and any(out.iterdir()) and not cfg.overwrite:
        raise InputError(f"--out {out}: exists and is not empty; choose another folder or pass --overwrite")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)

    majority = {}
    correctness = fconfig.filters.get("correctness")
    if correctness is not None and (correctness or {}).get("no_reference") == "majority":
        majority = majority_answers(source, columns, fconfig.batch_rows)

    out_schema = source.schema
    for name in REJECT_COLUMNS:
        out_schema = out_schema.append(pa.field(name, pa.string()))
    accepted_w = ShardWriter(partial / "accepted", out_schema, max_rows=50_000, flush_seconds=1e9)
    rejected_w = ShardWriter(partial / "rejected", out_schema, max_rows=50_000, flush_seconds=1e9)
    dedup = fconfig.build_one("dedup") if "dedup" in fconfig.filters else None
    funnel = Funnel(order=list(fconfig.filters))
    progress = Progress(source.num_rows, unit="rows", work_unit="MB", work_scale=1e-6)
    n = fconfig.n_workers
    config_dict = asdict(fconfig)
    verified: dict[tuple, str] = {}  # (reference, answer) → verdict

    inflight: dict[tuple, object] = {}  # pair → verify future, across batches

    def dispatch(batch: "_Batch", pool) -> None:
        """Stage A is done for this batch: queue its math-verify calls at once."""
        batch.results = batch.stage_a.result()
        for reason, _, pair, *_ in batch.results:
            # A problem's samples often give the same answer: verify each
            # distinct (reference, answer) once, and remember the verdict.
            if reason == DEFER and pair not in verified and pair not in inflight:
                inflight[pair] = pool.schedule(_verify, args=pair, timeout=fconfig.verify_timeout)

    def verdict_of(pair, pool) -> str:
        if pair not in verified:
            fut = inflight.pop(pair, None) or pool.schedule(_verify, args=pair, timeout=fconfig.verify_timeout)
            try:
                verdict = fut.result()
            except TimeoutError:
                verdict = "verify_timeout"
            except ProcessExpired:
                verdict = "verify_crash"
            except Exception as e:
                verdict = f"verify_error:{type(e).__name__}"
            if len(verified) >= 200_000:
                verified.clear()
            verified[pair] = verdict
        return verified[pair]

    def finish(batch: "_Batch", pool) -> None:
        table, rows = batch.table, batch.rows
        reasons, filts = [], []
        sources = table.column("source").to_pylist() if "source" in table.schema.names else ["-"] * table.num_rows
        for row, (reason, name, pair, after_r, after_n, feats), src in zip(rows, batch.results, sources):
            if reason == DEFER:
                verdict = verdict_of(pair, pool)
                if verdict == "correct":
                    reason, name = after_r, after_n
                else:
                    reason, name, feats = verdict, "correctness", None
            if reason is None and dedup is not None:
                row["_dedup"] = feats
                reason = dedup.reject(row)
                name = "dedup" if reason else None
            reasons.append(reason)
            filts.append(name)
            funnel.add(row["domain"], str(src), name, reason)
        mask = pa.array([r is None for r in reasons])
        full = table.append_column("reject_reason", pa.array(reasons, pa.string())) \
                    .append_column("reject_filter", pa.array(filts, pa.string()))
        accepted_w.add_table(full.filter(mask))
        rejected_w.add_table(full.filter(pa.compute.invert(mask)))
        progress.update(table.num_rows, sum(len(c) for c in (r["completion"] for r in rows) if isinstance(c, str)))

    import pyarrow.compute  # noqa: F401  (pa.compute)

    with ProcessPool(max_workers=n, initializer=_init_worker, initargs=(config_dict,)) as pool:
        window: deque[_Batch] = deque()

        def advance(block: bool) -> None:
            for b in window:  # queue verifies as soon as any batch's stage A is back
                if b.results is None and b.stage_a.done():
                    dispatch(b, pool)
            if block and window[0].results is None:
                dispatch(window[0], pool)
            while window and window[0].results is not None and (
                    block or all(p in verified or p not in inflight or inflight[p].done()
                                 for r, _, p, *_ in window[0].results if r == DEFER)):
                finish(window.popleft(), pool)
                block = False

        for table in source.batches(fconfig.batch_rows):
            rows = view_rows(table, columns)
            if majority:
                for r in rows:
                    if r["answer"] in (None, ""):
                        r["_majority"] = majority.get(r["problem_id"])
            window.append(_Batch(table, rows, pool.schedule(_stage_a, args=(rows,))))
            advance(block=len(window) > 3 * n)
        while window:
            advance(block=True)
    accepted_w.close()
    rejected_w.close()
    progress.close()

    total_written = accepted_w.written_rows + rejected_w.written_rows
    if not (total_written == funnel.input_rows == source.num_rows):
        raise RuntimeFailure(f"row count check failed: {accepted_w.written_rows} accepted + "
                             f"{rejected_w.written_rows} rejected != {source.num_rows} input rows; "
                             f"output left in {partial}")
    sandbox = None
    if "code_tests" in fconfig.filters:
        from filters.sandbox import isolation

        sandbox = isolation()
        if sandbox.startswith("WARNING"):
            print(f"\n!!! code sandbox: {sandbox} !!!\n")
    stats = {
        "input": cfg.input, "input_rows": funnel.input_rows, "accepted": accepted_w.written_rows,
        "code_sandbox": sandbox,
        "rejected": rejected_w.written_rows, "check": "accepted + rejected = input",
        "funnel": funnel.stages(),
        "by_domain": {k: dict(v) for k, v in funnel.by_domain.items()},
        "by_source": {k: dict(v) for k, v in funnel.by_source.items()},
        "config": {"file": fconfig.source, "filters": fconfig.filters, "verify_timeout": fconfig.verify_timeout},
        "columns": asdict(columns),
    }
    atomic_write_json(partial / "stats.json", stats)
    from factory.charts import funnel_chart

    funnel_chart(partial / "funnel.png", funnel.input_rows, funnel.stages(),
                 f"{Path(cfg.input).name}: {funnel.accepted:,} of {funnel.input_rows:,} traces accepted")
    if out.exists():
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)
    else:
        partial.rename(out)
    return funnel


def _verify(reference: str, predicted: str) -> str:
    from filters.answers import math_verify_equal

    return math_verify_equal(reference, predicted)
