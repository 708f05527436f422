"""The filter run: shards in, accepted / rejected shards, a funnel and a yield report out.

Top to bottom (`_filter`): a first pass over the input's problem column collects its distinct
problems for the filters that must see them all (`Filter.prepare`: dedup's same-problem groups,
decontamination's input-wide phrases) and, when an answer check asks, the majority answers.
Then an executor (filters/executor/: a local process pool, or Ray) maps the judge step over the
batches and runs the grouped step per group (filters/pipeline/), and the output step writes each
decided batch, in input order, to `OUT.partial/`, renamed to `OUT/` only once accepted + rejected
= input has been checked.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from factory.core import outdir
from factory.core.errors import InputError, RuntimeFailure
from factory.core.progress import Progress
from filters.base import AnswerCheck
from filters.config import FilterConfig, FilterRunConfig
from filters.correctness import CorrectnessFilter
from filters.executor.base import Executor, Steps
from filters.executor.local import LocalExecutor
from filters.executor.ray import RayExecutor
from filters.judge import Teachers
from filters.judge_cache import JudgeCache
from filters.pipeline.band import Band
from filters.pipeline.group import GroupStep
from filters.pipeline.judge import JudgeStep
from filters.pipeline.output import OutputStep
from filters.pipeline.referee import Referee
from filters.pipeline.rows import Batch, RowView, scan_problems
from filters.report import FilterReport
from filters.source import Columns, TraceSource

__all__ = ["FilterReport", "FilterRunConfig", "run"]


def run(cfg: FilterRunConfig, filters: FilterConfig | None = None, teachers: Teachers | None = None) -> FilterReport:
    """Filter `cfg.input` into `cfg.out`. The filters are `filters` when given (a caller's own
    chain, e.g. evaluation's grader), else the YAML `cfg.config`, else filters/default.yaml.
    `teachers` starts the generative judge's teacher, when the filters have one (the verb hands
    generators/backend.py's `JudgeTeachers`).

    OUT is locked before it is read (factory/core/outdir.py); the run writes OUT.partial and swaps
    it in whole. OUT is replaced (`--overwrite`) only when the filter made it and it holds nothing
    else; a failed run removes OUT.partial, so OUT is either as it was or the new output."""
    fconfig = filters or FilterConfig.load(cfg.config)
    if cfg.workers:
        fconfig.workers = cfg.workers
    _check_judge_and_band(cfg, fconfig, teachers)
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
            with _executor(cfg, fconfig) as executor:
                return _filter(cfg, fconfig, columns, source, claim, executor, teachers)
        except BaseException as e:
            claim.remove(partial)  # nothing half-written is left behind
            if isinstance(e, OSError):
                raise RuntimeFailure(f"the filter stopped: {outdir.os_error_line(e)}; its unfinished output was "
                                     f"removed and {out} is unchanged; rerun once fixed") from None
            raise
        finally:
            source.close()


def _executor(cfg: FilterRunConfig, fconfig: FilterConfig) -> Executor:
    if cfg.backend == "ray":
        return RayExecutor(fconfig.workers, fconfig.batch_rows, address=cfg.ray_address, verbose=cfg.verbose)
    return LocalExecutor(fconfig.n_workers, fconfig.batch_rows)


def _check_judge_and_band(cfg: FilterRunConfig, fconfig: FilterConfig, teachers: Teachers | None) -> None:
    """The judge's teacher options and the band's flag, before anything is read or written."""
    judge = fconfig.judge
    if cfg.hard_subset and fconfig.band is None:
        raise InputError("--hard-subset needs a difficulty band: select: {pass_rate: [lo, hi]} in the filters YAML")
    if judge is None:
        return
    at = fconfig.where or (lambda *keys: fconfig.source)
    if teachers is None:
        raise InputError(f"{at('filters', 'correctness', 'judge')}: this caller cannot start a judge's teacher; "
                         "run the judge through python -m factory.filter")
    bad = teachers.check(judge.model, judge.teacher)
    if bad:
        raise InputError(f"{at('filters', 'correctness', 'judge', bad[0])}: correctness.judge.{bad[0]}: {bad[1]}")
    try:  # the verdict cache opens (or is made) now, not after the first judge call
        JudgeCache(judge.cache_path(), judge.identity()).close()
    except (OSError, sqlite3.Error) as e:
        raise InputError(f"{at('filters', 'correctness', 'judge', 'cache')}: correctness.judge.cache "
                         f"{judge.cache_path()}: cannot open it: {e}") from None


def _filter(cfg: FilterRunConfig, fconfig: FilterConfig, columns: Columns, source: TraceSource,
            claim: outdir.Claim, executor: Executor, teachers: Teachers | None) -> FilterReport:
    """The run: OUT.partial made (with the filter's marker), the filters built and prepared with the
    input's problems, then every batch judged (the generative judge, where configured, on what the
    rules leave it), grouped and written; with a difficulty band, written in a second pass."""
    claim.make(cfg.partial)
    filters = fconfig.build()
    majority = any(isinstance(f, AnswerCheck) and f.wants_majority for f in filters)
    problems, answers = scan_problems(source, columns, fconfig.batch_rows, majority)
    for f in filters:
        f.prepare(problems)
    referee = Referee(fconfig.judge, CorrectnessFilter.name, teachers)
    band = Band(*fconfig.band, hard_subset=cfg.hard_subset) if fconfig.band else None
    steps = Steps(view=RowView(columns, answers), judge=JudgeStep(filters, fconfig.verify_timeout, referee.active),
                  referee=referee, group=GroupStep(filters))
    output = OutputStep(cfg, fconfig, filters, source, columns, unit=executor.unit, referee=referee, band=band)
    try:
        with closing(executor.run(steps, source)) as batches:
            if band is None:
                for batch in batches:
                    output.write(batch)
            else:
                _banded(batches, band, steps, source, fconfig, output)
        return output.finish()
    finally:
        referee.close()


def _banded(batches, band: Band, steps: Steps, source: TraceSource, fconfig: FilterConfig,
            output: OutputStep) -> None:
    """The difficulty band's two passes: every row decided (its decision kept, not its text), then
    the input read again in order, each accepted row kept, dropped or marked for the hard subset."""
    decisions = []
    progress = Progress(source.num_rows, unit="rows decided")
    for batch in batches:
        band.add(batch.rows, batch.decisions)
        decisions.extend(batch.decisions)
        progress.update(len(batch.rows))
    progress.close()
    pos = 0
    for table in source.batches(fconfig.batch_rows):
        rows = steps.view(table)
        banded = [band.apply(row["problem_id"], d) for row, d in zip(rows, decisions[pos:pos + len(rows)])]
        output.write(Batch(table, rows, [d for d, _ in banded]), hard=[h for _, h in banded])
        pos += len(rows)
