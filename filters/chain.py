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

from contextlib import closing

from factory.core import outdir
from factory.core.errors import InputError, RuntimeFailure
from filters.base import AnswerCheck
from filters.config import FilterConfig, FilterRunConfig
from filters.executor.base import Executor, Steps
from filters.executor.local import LocalExecutor
from filters.executor.ray import RayExecutor
from filters.pipeline.group import GroupStep
from filters.pipeline.judge import JudgeStep
from filters.pipeline.output import OutputStep
from filters.pipeline.rows import RowView, scan_problems
from filters.report import FilterReport
from filters.source import Columns, TraceSource

__all__ = ["FilterReport", "FilterRunConfig", "run"]


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
            with _executor(cfg, fconfig) as executor:
                return _filter(cfg, fconfig, columns, source, claim, executor)
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


def _filter(cfg: FilterRunConfig, fconfig: FilterConfig, columns: Columns, source: TraceSource,
            claim: outdir.Claim, executor: Executor) -> FilterReport:
    """The run: OUT.partial made (with the filter's marker), the filters built and prepared with the
    input's problems, then every batch judged, grouped and written."""
    claim.make(cfg.partial)
    filters = fconfig.build()
    majority = any(isinstance(f, AnswerCheck) and f.wants_majority for f in filters)
    problems, answers = scan_problems(source, columns, fconfig.batch_rows, majority)
    for f in filters:
        f.prepare(problems)
    steps = Steps(view=RowView(columns, answers), judge=JudgeStep(filters, fconfig.verify_timeout),
                  group=GroupStep(filters))
    output = OutputStep(cfg, fconfig, filters, source, columns, unit=executor.unit)
    with closing(executor.run(steps, source)) as batches:
        for batch in batches:
            output.write(batch)
    return output.finish()
