"""The output step: decided batches in, in input order → accepted/ and rejected/ shards (every input
column plus the reject columns), the report (funnel, yield, leaks), and at the end the
accepted + rejected = input check, stats.json, problems.parquet, funnel.png and the swap of
OUT.partial into OUT.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

from factory.core import layout
from factory.core.charts import funnel_chart
from factory.core.errors import RuntimeFailure
from factory.core.manifest import find_run, provenance
from factory.core.naming import public_name
from factory.core.progress import Progress
from factory.core.shards import ShardWriter, atomic_write_json
from filters.base import Filter, Reason
from filters.config import FilterConfig, FilterRunConfig
from filters.cost import Prices, Spend
from filters.cost import lines as cost_lines
from filters.flaws import DESCRIPTIONS, flaw_map
from filters.pipeline.band import FILTER as BAND_FILTER
from filters.pipeline.band import Band
from filters.pipeline.referee import Referee
from filters.pipeline.rows import Batch, Decision
from filters.report import FilterReport, Funnel, Yield
from filters.source import Columns, TraceSource

REJECT_COLUMNS = ("reject_reason", "reject_filter", "reject_detail")
JUDGE_COLUMNS = ("correct_rule", "correct_judge", "judge_reason")   # with a generative judge, every row
STATS_FORMAT = "r1-factory.filter/1"


class OutputStep:
    """Writes into `cfg.partial`, which the caller has made; `unit`: what the progress line counts."""

    def __init__(self, cfg: FilterRunConfig, fconfig: FilterConfig, filters: list[Filter], source: TraceSource,
                 columns: Columns, unit: str, referee: Referee | None = None, band: Band | None = None):
        self.cfg, self.fconfig, self.filters, self.source, self.columns = cfg, fconfig, filters, source, columns
        self.unit, self.referee, self.band = unit, referee, band
        self.judged = referee is not None and referee.active
        # The evidence a filter's rejections carry, tallied for stats.json (decontamination's leaks).
        evidence = {f.name: e for f in filters if (e := f.evidence()) is not None}
        order = list(fconfig.filters) + ([BAND_FILTER] if band and not band.hard_subset else [])
        self.report = FilterReport(Funnel(order=order), Yield(), evidence)
        self.spend = Spend()   # tokens by outcome: what an accepted trace costs (filters/cost.py)
        self.accepted_w = self.rejected_w = self.hard_w = self.progress = None

    def write(self, batch: Batch, hard: list[bool] | None = None) -> None:
        """Write one batch with its decisions (and, with a hard subset, which accepted rows are in
        the band), and count them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.accepted_w is None:
            self._open()
        table, report = batch.table, self.report
        if self.judged:
            table = _with_judge_columns(table, batch.decisions)
        reasons, filts, details = [], [], []
        sources, prompt_tokens, completion_tokens = (_column(table, "source", "-"), _column(table, "prompt_tokens", 0),
                                                     _column(table, "completion_tokens", 0))
        for row, d, src, pt, ct in zip(batch.rows, batch.decisions, sources, prompt_tokens, completion_tokens):
            self.spend.add(d.filter, pt, ct)
            text, detail = Reason.encode(d.reason)
            reasons.append(text)
            filts.append(d.filter)
            details.append(detail)
            report.funnel.add(row["domain"], str(src), d.filter, d.reason)
            report.yields.add(row["problem_id"], d.answer, d.reason is None)
            if detail and d.filter in report.evidence:
                report.evidence[d.filter].add(d.reason.detail)
        mask = pa.array([r is None for r in reasons])
        full = table.append_column("reject_reason", pa.array(reasons, pa.string())) \
                    .append_column("reject_filter", pa.array(filts, pa.string())) \
                    .append_column("reject_detail", pa.array(details, pa.string()))
        self.accepted_w.add_table(full.filter(mask))
        self.rejected_w.add_table(full.filter(pc.invert(mask)))
        if self.hard_w is not None and hard:
            self.hard_w.add_table(full.filter(pa.array(hard)))
        self.progress.update(table.num_rows, sum(len(r["completion"]) for r in batch.rows
                                                 if isinstance(r["completion"], str)))

    def _open(self) -> None:
        """The accepted and rejected shard writers (every input column plus the reject columns), and
        the progress line over the input."""
        import pyarrow as pa

        out_schema = self.source.schema
        if self.judged:
            out_schema = _with_judge_fields(out_schema)
        for name in REJECT_COLUMNS:
            out_schema = out_schema.append(pa.field(name, pa.string()))
        partial = self.cfg.partial
        self.accepted_w = ShardWriter(partial / layout.ACCEPTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.rejected_w = ShardWriter(partial / layout.REJECTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        if self.band is not None and self.band.hard_subset:
            self.hard_w = ShardWriter(partial / layout.HARD, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.progress = Progress(self.source.num_rows, unit=self.unit, work_unit="MB", work_scale=1e-6)

    def finish(self) -> FilterReport:
        """Close the writers, check accepted + rejected = input, write the reports and swap
        OUT.partial in as OUT."""
        if self.accepted_w is None:
            self._open()
        self.accepted_w.close()
        self.rejected_w.close()
        if self.hard_w is not None:
            self.hard_w.close()
        self.progress.close()
        funnel, partial = self.report.funnel, self.cfg.partial
        accepted, rejected = self.accepted_w.written_rows, self.rejected_w.written_rows
        if not (accepted + rejected == funnel.input_rows == self.source.num_rows):
            raise RuntimeFailure(f"row count check failed: {accepted} accepted + {rejected} rejected != "
                                 f"{self.source.num_rows} input rows; output left in {partial}")
        stats = self._stats(accepted, rejected)
        self.report.notes += _notes(stats)
        self.report.yields.write(partial / layout.PROBLEMS)
        atomic_write_json(partial / layout.STATS, stats)
        funnel_chart(partial / layout.FUNNEL, funnel.input_rows, funnel.stages(),
                     f"{Path(self.cfg.input).name}: {funnel.accepted:,} of {funnel.input_rows:,} traces accepted")
        self._swap()
        return self.report

    def _stats(self, accepted: int, rejected: int) -> dict:
        cfg, fconfig, funnel = self.cfg, self.fconfig, self.report.funnel
        run = find_run(cfg.input)
        notes = {k: v for f in self.filters for k, v in f.run_notes().items()}
        judge = self.referee.stats() if self.judged else None
        return {
            "format": STATS_FORMAT,
            "input": cfg.input, "input_name": public_name(cfg.input),
            "generation": provenance(run) if run else None,  # kept here: the card needs no path to the input
            "input_rows": funnel.input_rows, "accepted": accepted,
            **notes,
            "rejected": rejected, "check": "accepted + rejected = input",
            "funnel": funnel.stages(),
            "flaws": funnel.flaws(),
            "flaw_descriptions": {f: DESCRIPTIONS[f] for f in funnel.flaws()},
            "flaw_of": flaw_map(funnel.stages()),
            "yield": self.report.yields.summary(),
            **{name: e.summary() for name, e in self.report.evidence.items()},
            **({"judge": judge} if self.judged else {}),
            "cost": self.spend.summary((run or {}).get("cost"), judge,
                                       Prices(cfg.price_per_device_hour, cfg.price_per_million_tokens)),
            **({"select": self.band.summary(self.hard_w.written_rows if self.hard_w else 0)} if self.band else {}),
            "by_domain": {k: dict(v) for k, v in funnel.by_domain.items()},
            "by_source": {k: dict(v) for k, v in funnel.by_source.items()},
            "config": {"file": fconfig.source, "filters": {f.name: f.options() for f in self.filters},
                       "verify_timeout": fconfig.verify_timeout},
            "columns": asdict(self.columns),
        }

    def _swap(self) -> None:
        """OUT.partial becomes OUT; an OUT this filter made before (checked by the caller) goes, never
        anything else: an empty folder given as --out is kept aside until the swap is done, then removed."""
        out, partial, old = self.cfg.out, self.cfg.partial, self.cfg.old
        if not out.exists():
            partial.rename(out)
            return
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)


def _with_judge_fields(schema):
    import pyarrow as pa

    for name in JUDGE_COLUMNS:
        if name in schema.names:  # an input filtered before with a judge: this run's verdicts replace them
            schema = schema.remove(schema.get_field_index(name))
    return schema.append(pa.field("correct_rule", pa.bool_())).append(pa.field("correct_judge", pa.bool_())) \
                 .append(pa.field("judge_reason", pa.string()))


def _with_judge_columns(table, decisions: list[Decision]):
    """The rule's and the judge's verdicts and the judge's reason, on the rows the judge saw (null elsewhere)."""
    import pyarrow as pa

    for name in JUDGE_COLUMNS:
        if name in table.schema.names:
            table = table.remove_column(table.schema.get_field_index(name))
    judged = [d.judged or (None, None, None) for d in decisions]
    return table.append_column("correct_rule", pa.array([j[0] for j in judged], pa.bool_())) \
                .append_column("correct_judge", pa.array([j[1] for j in judged], pa.bool_())) \
                .append_column("judge_reason", pa.array([j[2] for j in judged], pa.string()))


def _column(table, name: str, fill) -> list:
    return table.column(name).to_pylist() if name in table.schema.names else [fill] * table.num_rows


def _notes(stats: dict) -> list[str]:
    """The judge's, the band's and the cost's lines of the printed report."""
    lines = []
    j = stats.get("judge")
    if j:
        agree = j["agreement"]
        lines.append(
            f"judge ({j['model']}, when {j['when']}, policy {j['policy']}): {j['rows']:,} rows, "
            f"{j['cache_hits']:,} from the cache, {j['asked']:,} asked in {j['seconds']:.1f} s "
            f"({j['completion_tokens']:,} tokens); verdicts {j['verdicts']['correct']:,} correct, "
            f"{j['verdicts']['incorrect']:,} incorrect, {j['unreadable']:,} unreadable, {j['timeouts']:,} timed out, "
            f"{j['errors']:,} failed; flipped {j['flipped']['to_correct']:,} to correct, "
            f"{j['flipped']['to_rejected']:,} to rejected"
            + (f"; agrees with the rule on {agree['agree']:,} of {agree['both_decided']:,} "
               f"({100 * agree['rate']:.1f}%)" if agree["rate"] is not None else ""))
    b = stats.get("select")
    if b:
        lo, hi = b["pass_rate"]
        lines.append(f"difficulty band: pass rate in [{lo}, {hi}]: {b['problems_in_band']:,} of "
                     f"{b['problems_with_pass_rate']:,} problems"
                     + (f"; hard subset: {b['hard_rows']:,} rows in OUT/hard" if "hard_rows" in b else
                        f"; {b['accepted_problems_out_of_band']:,} problems' accepted rows dropped (out_of_band)"))
    return lines + (cost_lines(stats["cost"]) if stats.get("cost") else [])
