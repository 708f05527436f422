"""The filter chain: shards in, accepted / rejected shards, a funnel and a yield report out.

First a pass over the input's problem column collects its distinct problems
for the filters that must see them all (`Filter.prepare`: dedup's same-problem
groups, decontamination's input-wide phrases) and, when asked, the majority
answers. Then the filters are built once here and handed to a pool of worker
processes (pebble); each batch of rows runs through every stateless filter
there, in order, up to the first rejection. The answer check (correctness)
runs on every row, so the yield report knows which samples were correct even
when another filter dropped them. A maths answer that needs math-verify
becomes its own pool task with a hard time limit; on timeout pebble kills
that worker and starts another, so the row is rejected as `verify_timeout`
and the run goes on. Dedup, which remembers what it kept, runs last in this
process in input order. Output goes to `OUT.partial/` and is renamed to
`OUT/` only once accepted + rejected = input has been checked.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory.core import layout, outdir
from factory.core.cli import LogOptions
from factory.core.errors import InputError, RuntimeFailure
from factory.core.manifest import find_provenance
from factory.core.naming import public_name
from factory.core.progress import Progress
from factory.core.shards import ShardWriter, atomic_write_json
from filters.base import Filter, Problems, Reason
from filters.config import FilterConfig
from filters.flaws import DESCRIPTIONS, flaw_map
from filters.report import Funnel, Leaks, Yield
from filters.source import Columns, TraceSource

REJECT_COLUMNS = ("reject_reason", "reject_filter", "reject_detail")
STATS_FORMAT = "r1-factory.filter/1"
ANSWER_FILTERS = ("correctness", "code_tests")  # a pass means the sample is correct


class _Pending(str):
    """What the correctness filter's verifier returns inside the workers: not a
    verdict but the (reference, answer) pair the main process must verify."""

    pair: tuple


def _defer(reference: str, predicted: str) -> _Pending:
    out = _Pending("pending")
    out.pair = (reference, predicted)
    return out


@dataclass
class Verdict:
    """One row, as the workers judged it."""

    first: tuple | None = None     # (position, filter, reason) of the first rejection other than correctness
    answer: str | None = None      # "correct", why not, or None when no answer check applies
    checked_by: tuple | None = None  # (position, filter) of the answer check that set `answer`
    pending: tuple | None = None   # (reference, answer) for math-verify; then `answer` is decided here
    features: object = None        # dedup's features, for a row that may be accepted


_WORKER: dict = {}


def _init_worker(filters: list[Filter], dedup: Filter | None) -> None:
    """`filters`: built and prepared in the main process (inherited, or pickled under spawn);
    `dedup`: a fresh copy, for its features only."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    for f in filters:
        if f.name == "correctness":
            f.verifier = _defer
            # Import math-verify (sympy, its LaTeX parser) now, not inside the first call's timeout:
            # a worker that replaces one killed for a hanging answer would otherwise spend seconds
            # of the next answer's verify_timeout importing (seen on a loaded machine: a
            # parseable answer reported as verify_timeout).
            _verify("1", "1")
    _WORKER.update(filters=filters, dedup=dedup)


def settle(v: Verdict, verdict_of) -> tuple | None:
    """(position, filter, reason) of the row's first rejection before dedup, or None; settles
    `v.answer` (a pending math-verify pair through `verdict_of`). The answer check's verdict
    counts from its place in the chain, wherever it ran."""
    if v.pending:
        v.answer = verdict_of(v.pending)
    first = v.first
    if v.answer not in (None, "correct") and (first is None or v.checked_by[0] < first[0]):
        first = (*v.checked_by, v.answer)
    return first


def _safe_reject(f: Filter, row: dict):
    try:
        return f.reject(row)
    except Exception as e:  # a filter bug costs one row, named, never the run
        return f"error:{type(e).__name__}"


def _judge(rows: list[dict]) -> list[Verdict]:
    filters, dedup = _WORKER["filters"], _WORKER["dedup"]
    out = []
    for row in rows:
        complete_row(row)
        v = Verdict()
        for pos, f in enumerate(filters):
            applies = f.name in ANSWER_FILTERS and (row.get("domain") or "math") in f.domains
            if f.name == "correctness":
                if applies:  # always: the yield report needs it even when an earlier filter drops the row
                    r = _safe_reject(f, row)
                    v.checked_by = (pos, f.name)
                    if isinstance(r, _Pending):
                        v.pending = r.pair
                    else:
                        v.answer = r or "correct"
                continue
            if v.first is not None:
                continue
            r = _safe_reject(f, row)
            if applies:
                v.answer, v.checked_by = r or "correct", (pos, f.name)
            if r:
                v.first = (pos, f.name, r)
        if dedup is not None and v.first is None and v.answer in (None, "correct"):
            v.features = dedup.features(row)
        out.append(v)
    return out


@dataclass
class _Batch:
    table: object
    rows: list
    judged: object                 # future of _judge
    verdicts: list | None = None


@dataclass(kw_only=True)
class FilterRunConfig(LogOptions):
    input: str = field(metadata={"help": "a generate run dir, Parquet/JSONL file or folder, or a Hub dataset id"})
    out: Path = field(metadata={"help": "output folder: accepted/, rejected/, stats.json, problems.parquet, funnel.png"})
    config: Path | None = field(default=None, metadata={"help": "filters YAML (default: filters/default.yaml)"})
    problem_column: str = field(default="problem", metadata={"help": "column with the problem text"})
    answer_column: str = field(default="answer", metadata={"help": "column with the reference answer"})
    completion_column: str = field(default="completion", metadata={"help": "column with the full completion"})
    id_column: str = field(default="problem_id", metadata={"help": "column with the problem id (else a hash)"})
    split: str = field(default="train", metadata={"help": "split, for a Hub dataset"})
    workers: int = field(default=0, metadata={"help": "worker processes (default: the YAML's, else one per core)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing output folder"})
    backend: str = field(default="local", metadata={
        "help": "local: worker processes on this machine; ray: Ray Data stages on a Ray cluster "
                "(--workers actors, default one per cluster CPU), same outputs", "choices": ["local", "ray"]})
    ray_address: str | None = field(default=None, metadata={
        "help": "with --backend ray: `auto` or ray://HOST:10001; default: a local Ray instance"})

    @property
    def partial(self) -> Path:
        """Where the run writes before it swaps the output in whole."""
        return self.out.with_name(self.out.name + ".partial")

    @property
    def old(self) -> Path:
        """Where a replaced output waits during the swap."""
        return self.out.with_name(self.out.name + ".old")

    def __post_init__(self):
        self.out = Path(self.out)
        if self.workers < 0:
            raise ValueError("--workers must be >= 0")
        if self.ray_address and self.backend != "ray":
            raise ValueError("--ray-address needs --backend ray")


def view_rows(table, columns: Columns, derive: bool = True) -> list[dict]:
    """The filters' view of a batch: their column names, derived fields filled in.

    Without reasoning/response columns they are split from the completion; with
    `derive=False` that is left to `complete_row` (in the workers, off the main process)."""
    from factory.core.problems import as_text, content_id

    names = set(table.schema.names)

    def col(name):  # the source gives every column its declared type (filters/source.py)
        return table.column(name).to_pylist() if name in names else [None] * table.num_rows

    problems, completions = col(columns.problem), col(columns.completion)
    answers, ids = col(columns.answer), col(columns.id)
    reasoning, response = col("reasoning"), col("response")
    finish, domain, tests = col("finish_reason"), col("domain"), col("tests")
    split = "reasoning" not in names or "response" not in names
    rows = []
    for i in range(table.num_rows):
        p = problems[i]
        row = {"problem_id": str(ids[i]) if ids[i] is not None else content_id(p if isinstance(p, str) else ""),
               "problem": p if isinstance(p, str) else as_text(p), "answer": as_text(answers[i]),
               "completion": completions[i], "reasoning": reasoning[i], "response": response[i],
               "finish_reason": finish[i], "domain": domain[i] or "math", "tests": tests[i], "_split": split}
        rows.append(complete_row(row) if derive else row)
    return rows


def complete_row(row: dict) -> dict:
    """Fill reasoning and response from the completion, where the input has no such columns."""
    from factory.core.traces import split_completion

    if row.pop("_split", False):
        c = row["completion"]
        row["reasoning"], row["response"] = split_completion(c) if isinstance(c, str) else ("", None)
    return row


@dataclass
class FilterReport:
    """What a run found: the funnel, the yield per problem, the leaks per benchmark."""

    funnel: Funnel
    yields: Yield
    leaks: Leaks

    @property
    def accepted(self) -> int:
        return self.funnel.accepted

    @property
    def input_rows(self) -> int:
        return self.funnel.input_rows

    def table(self) -> str:
        return self.funnel.table() + "\n" + self.yields.table()


def scan_problems(source: TraceSource, columns: Columns, batch_rows: int,
                  majority: bool) -> tuple[Problems, dict[str, str]]:
    """The input's distinct problems and, if `majority`, problem_id → the answer
    more than half of its reference-less samples give. Reads only the columns it needs."""
    from filters.answers import extract_answer, normalise

    wanted = [columns.problem, columns.answer, columns.id, "domain"]
    if majority:
        wanted += [columns.completion, "reasoning", "response"]
    problems = Problems()
    votes: dict[str, Counter] = defaultdict(Counter)
    surface: dict[tuple, str] = {}
    totals: Counter = Counter()
    for table in source.batches(batch_rows, columns=wanted):
        for row in view_rows(table, columns):
            problems.add(row["problem_id"], row["problem"] or "", row["answer"])
            if not majority or row["answer"] not in (None, ""):
                continue
            totals[row["problem_id"]] += 1
            ans = extract_answer(row["response"] or "")
            if ans is not None:
                key = normalise(ans)
                votes[row["problem_id"]][key] += 1
                surface.setdefault((row["problem_id"], key), ans)
    answers = {}
    for pid, counter in votes.items():
        key, n = counter.most_common(1)[0]
        if n * 2 > totals[pid]:
            answers[pid] = surface[(pid, key)]
    return problems, answers


def run(cfg: FilterRunConfig, filters: FilterConfig | None = None) -> FilterReport:
    """Filter `cfg.input` into `cfg.out`. The filters are `filters` when given (a caller's own
    chain, e.g. evaluation's grader), else the YAML `cfg.config`, else filters/default.yaml.

    OUT is locked before it is read (factory/core/outdir.py); the run writes OUT.partial and swaps
    it in whole. OUT is replaced (`--overwrite`) only when the filter made it and it holds nothing
    else; a failed run removes OUT.partial, so OUT is either as it was or the new output."""
    fconfig = filters or FilterConfig.load(cfg.config)
    if cfg.workers:
        fconfig.workers = cfg.workers
    columns = Columns(problem=cfg.problem_column, answer=cfg.answer_column, completion=cfg.completion_column,
                      id=cfg.id_column)
    out, partial, old = cfg.out, cfg.partial, cfg.old
    with outdir.claim(out, "filter", inputs={"--input": cfg.input, "--config": cfg.config},
                      derived=(partial, old)) as claim:
        claim.check(replacing=True)
        if out.exists() and any(out.iterdir()) and not cfg.overwrite:
            raise InputError(f"--out {out}: exists and is not empty; choose another folder or pass --overwrite")
        claim.remove(old)       # left by a run killed mid-swap
        claim.remove(partial)   # left by a run killed mid-write
        source = TraceSource(cfg.input, columns, split=cfg.split)
        try:
            if cfg.backend == "ray":
                return _ray_run(cfg, fconfig, columns, source, claim)
            return _Run(cfg, fconfig, columns, source, claim).go()
        except BaseException as e:
            claim.remove(partial)  # nothing half-written is left behind
            if isinstance(e, OSError):
                raise RuntimeFailure(f"the filter stopped: {outdir.os_error_line(e)}; its unfinished output was "
                                     f"removed and {out} is unchanged; rerun once fixed") from None
            raise
        finally:
            source.close()


def _ray_run(cfg: FilterRunConfig, fconfig: FilterConfig, columns: Columns, source: TraceSource,
             claim: outdir.Claim) -> FilterReport:
    import ray

    from filters.ray_chain import RayRun
    from factory.core.ray import connect

    started = connect(cfg.ray_address, cfg.verbose)
    try:
        if not cfg.workers and not fconfig.workers:
            fconfig.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return RayRun(cfg, fconfig, columns, source, claim).go()
    finally:
        if started:
            ray.shutdown()


class _Run:
    """One filter run: the worker pool, the math-verify calls in flight, the writers and the reports."""

    def __init__(self, cfg: FilterRunConfig, fconfig: FilterConfig, columns: Columns, source: TraceSource,
                 claim: outdir.Claim):
        self.cfg, self.fconfig, self.columns, self.source, self.claim = cfg, fconfig, columns, source, claim
        self.partial = cfg.partial
        self.filters = [fconfig.build_one(name) for name in fconfig.filters]
        self.dedup = next((f for f in self.filters if f.name == "dedup"), None)
        self.stateless = [f for f in self.filters if f.name != "dedup"]
        self.decontamination = next((f for f in self.filters if f.name == "decontamination"), None)
        self.report = FilterReport(Funnel(order=list(fconfig.filters)), Yield(), Leaks(
            benchmarks=self.decontamination.benchmark_names if self.decontamination else []))
        self.verified: dict[tuple, str] = {}   # (reference, answer) → verdict
        self.inflight: dict[tuple, object] = {}  # pair → verify future, across batches
        self.pool = None

    # -- math-verify ------------------------------------------------------
    def _queue_verifies(self, batch: _Batch) -> None:
        """The workers are done with this batch: queue its math-verify calls at once."""
        batch.verdicts = batch.judged.result()
        for v in batch.verdicts:
            # A problem's samples often give the same answer: verify each
            # distinct (reference, answer) once, and remember the verdict.
            if v.pending and v.pending not in self.verified and v.pending not in self.inflight:
                self.inflight[v.pending] = self.pool.schedule(_verify, args=v.pending,
                                                              timeout=self.fconfig.verify_timeout)

    def _verdict(self, pair: tuple) -> str:
        if pair not in self.verified:
            fut = self.inflight.pop(pair, None) or \
                self.pool.schedule(_verify, args=pair, timeout=self.fconfig.verify_timeout)
            remember(self.verified, pair, verify_result(fut))
        return self.verified[pair]

    def _ready(self, batch: _Batch) -> bool:
        return batch.verdicts is not None and all(
            v.pending in self.verified or v.pending not in self.inflight or self.inflight[v.pending].done()
            for v in batch.verdicts if v.pending)

    # -- deciding and writing ------------------------------------------------
    def _decide(self, row: dict, v: Verdict) -> tuple[str | None, str | None]:
        """(filter, reason) of the row's rejection, or (None, None); settles v.answer."""
        first = settle(v, self._verdict)
        if first is not None:
            return first[1], first[2]
        if self.dedup is not None:
            row["_dedup"] = v.features
            reason = self.dedup.reject(row)
            if reason:
                return "dedup", reason
        return None, None

    def _finish(self, batch: _Batch) -> None:
        decided = []
        for row, v in zip(batch.rows, batch.verdicts):
            name, reason = self._decide(row, v)
            decided.append((name, reason, v.answer))
        self._write(batch.table, batch.rows, decided)

    def _write(self, table, rows: list[dict], decided: list[tuple]) -> None:
        """Write one batch with its decisions, (filter, reason, answer) per row, and count them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        reasons, filts, details = [], [], []
        sources = table.column("source").to_pylist() if "source" in table.schema.names else ["-"] * table.num_rows
        for row, (name, reason, answer), src in zip(rows, decided, sources):
            detail = reason.detail if isinstance(reason, Reason) else None
            reasons.append(None if reason is None else str(reason))
            filts.append(name)
            details.append(json.dumps(detail, ensure_ascii=False) if detail else None)
            self.report.funnel.add(row["domain"], str(src), name, reason)
            self.report.yields.add(row["problem_id"], answer, reason is None)
            if name == "decontamination" and detail:
                self.report.leaks.add(detail)
        mask = pa.array([r is None for r in reasons])
        full = table.append_column("reject_reason", pa.array(reasons, pa.string())) \
                    .append_column("reject_filter", pa.array(filts, pa.string())) \
                    .append_column("reject_detail", pa.array(details, pa.string()))
        self.accepted_w.add_table(full.filter(mask))
        self.rejected_w.add_table(full.filter(pc.invert(mask)))
        self.progress.update(table.num_rows, sum(len(r["completion"]) for r in rows
                                                 if isinstance(r["completion"], str)))

    def _advance(self, window: deque, block: bool) -> None:
        for b in window:  # queue verifies as soon as any batch is back from the workers
            if b.verdicts is None and b.judged.done():
                self._queue_verifies(b)
        if block and window[0].verdicts is None:
            self._queue_verifies(window[0])
        while window and (self._ready(window[0]) or (block and window[0].verdicts is not None)):
            self._finish(window.popleft())
            block = False

    # -- the run ------------------------------------------------------------------
    def go(self) -> FilterReport:
        from pebble import ProcessPool

        fconfig, source = self.fconfig, self.source
        majority = self._prepare()
        self._open_writers("rows")
        n = fconfig.n_workers
        features = dataclasses.replace(self.dedup) if self.dedup is not None else None
        with ProcessPool(max_workers=n, initializer=_init_worker, initargs=(self.stateless, features)) as pool:
            self.pool = pool
            window: deque[_Batch] = deque()
            for table in source.batches(fconfig.batch_rows):
                rows = view_rows(table, self.columns, derive=False)
                if majority:
                    for r in rows:
                        if r["answer"] in (None, ""):
                            r["_majority"] = majority.get(r["problem_id"])
                window.append(_Batch(table, rows, pool.schedule(_judge, args=(rows,))))
                self._advance(window, block=len(window) > 3 * n)
            while window:
                self._advance(window, block=True)
        self._close_writers()
        self._check_and_publish()
        return self.report

    def _prepare(self) -> dict[str, str]:
        """Make OUT.partial (with the filter's marker), scan the input's problems once and prepare the
        filters that need them all; returns the majority answers (empty unless correctness asks for them)."""
        self.claim.make(self.partial)
        correctness = self.fconfig.filters.get("correctness")
        wants_majority = correctness is not None and (correctness or {}).get("no_reference") == "majority"
        problems, majority = scan_problems(self.source, self.columns, self.fconfig.batch_rows, wants_majority)
        for f in self.filters:
            f.prepare(problems)
        return majority

    def _open_writers(self, unit: str) -> None:
        """The accepted and rejected shard writers in OUT.partial (every input column plus the
        reject columns), and the progress line over the input."""
        import pyarrow as pa

        out_schema = self.source.schema
        for name in REJECT_COLUMNS:
            out_schema = out_schema.append(pa.field(name, pa.string()))
        self.accepted_w = ShardWriter(self.partial / layout.ACCEPTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.rejected_w = ShardWriter(self.partial / layout.REJECTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.progress = Progress(self.source.num_rows, unit=unit, work_unit="MB", work_scale=1e-6)

    def _close_writers(self) -> None:
        self.accepted_w.close()
        self.rejected_w.close()
        self.progress.close()

    def _check_and_publish(self) -> None:
        cfg, fconfig, funnel, partial = self.cfg, self.fconfig, self.report.funnel, self.partial
        accepted, rejected = self.accepted_w.written_rows, self.rejected_w.written_rows
        if not (accepted + rejected == funnel.input_rows == self.source.num_rows):
            raise RuntimeFailure(f"row count check failed: {accepted} accepted + {rejected} rejected != "
                                 f"{self.source.num_rows} input rows; output left in {partial}")
        sandbox = None
        if "code_tests" in fconfig.filters:
            from filters.sandbox import isolation

            sandbox = isolation()
            if sandbox.startswith("WARNING"):
                print(f"\n!!! code sandbox: {sandbox} !!!\n")
        stats = {
            "format": STATS_FORMAT,
            "input": cfg.input, "input_name": public_name(cfg.input),
            "generation": find_provenance(cfg.input),  # kept here: the card needs no path to the input
            "input_rows": funnel.input_rows, "accepted": accepted,
            "code_sandbox": sandbox,
            "rejected": rejected, "check": "accepted + rejected = input",
            "funnel": funnel.stages(),
            "flaws": funnel.flaws(),
            "flaw_descriptions": {f: DESCRIPTIONS[f] for f in funnel.flaws()},
            "flaw_of": flaw_map(funnel.stages()),
            "yield": self.report.yields.summary(),
            "decontamination": self.report.leaks.summary() if self.decontamination else None,
            "by_domain": {k: dict(v) for k, v in funnel.by_domain.items()},
            "by_source": {k: dict(v) for k, v in funnel.by_source.items()},
            "config": {"file": fconfig.source, "filters": {f.name: f.options() for f in self.filters},
                       "verify_timeout": fconfig.verify_timeout},
            "columns": asdict(self.columns),
        }
        self.report.yields.write(partial / layout.PROBLEMS)
        atomic_write_json(partial / layout.STATS, stats)
        from factory.core.charts import funnel_chart

        funnel_chart(partial / layout.FUNNEL, funnel.input_rows, funnel.stages(),
                     f"{Path(cfg.input).name}: {funnel.accepted:,} of {funnel.input_rows:,} traces accepted")
        self._swap()

    def _swap(self) -> None:
        """OUT.partial becomes OUT; an OUT this filter made before (checked by `run`) goes, never anything
        else: an empty folder given as --out is kept aside until the swap is done, then removed."""
        out, partial, old = self.cfg.out, self.partial, self.cfg.old
        if not out.exists():
            partial.rename(out)
            return
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)


def verify_result(fut) -> str:
    """The verdict of a math-verify call scheduled on a pebble pool; a killed or failed call is
    its own reason, never the run's end."""
    from pebble import ProcessExpired

    try:
        return fut.result()
    except TimeoutError:
        return "verify_timeout"
    except ProcessExpired:
        return "verify_crash"
    except Exception as e:
        return f"verify_error:{type(e).__name__}"


def remember(verified: dict, pair: tuple, verdict: str) -> None:
    """Cache a pair's verdict (each distinct pair is verified once), in bounded memory."""
    if len(verified) >= 200_000:
        verified.clear()
    verified[pair] = verdict


def _verify(reference: str, predicted: str) -> str:
    from filters.answers import math_verify_equal

    return math_verify_equal(reference, predicted)
