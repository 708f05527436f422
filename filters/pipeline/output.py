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
from factory.core.manifest import find_provenance
from factory.core.naming import public_name
from factory.core.progress import Progress
from factory.core.shards import ShardWriter, atomic_write_json
from filters.base import Filter, Reason
from filters.config import FilterConfig, FilterRunConfig
from filters.flaws import DESCRIPTIONS, flaw_map
from filters.pipeline.rows import Batch
from filters.report import FilterReport, Funnel, Yield
from filters.source import Columns, TraceSource

REJECT_COLUMNS = ("reject_reason", "reject_filter", "reject_detail")
STATS_FORMAT = "r1-factory.filter/1"


class OutputStep:
    """Writes into `cfg.partial`, which the caller has made; `unit`: what the progress line counts."""

    def __init__(self, cfg: FilterRunConfig, fconfig: FilterConfig, filters: list[Filter], source: TraceSource,
                 columns: Columns, unit: str):
        self.cfg, self.fconfig, self.filters, self.source, self.columns = cfg, fconfig, filters, source, columns
        self.unit = unit
        # The evidence a filter's rejections carry, tallied for stats.json (decontamination's leaks).
        evidence = {f.name: e for f in filters if (e := f.evidence()) is not None}
        self.report = FilterReport(Funnel(order=list(fconfig.filters)), Yield(), evidence)
        self.accepted_w = self.rejected_w = self.progress = None

    def write(self, batch: Batch) -> None:
        """Write one batch with its decisions, and count them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.accepted_w is None:
            self._open()
        table, report = batch.table, self.report
        reasons, filts, details = [], [], []
        sources = table.column("source").to_pylist() if "source" in table.schema.names else ["-"] * table.num_rows
        for row, d, src in zip(batch.rows, batch.decisions, sources):
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
        self.progress.update(table.num_rows, sum(len(r["completion"]) for r in batch.rows
                                                 if isinstance(r["completion"], str)))

    def _open(self) -> None:
        """The accepted and rejected shard writers (every input column plus the reject columns), and
        the progress line over the input."""
        import pyarrow as pa

        out_schema = self.source.schema
        for name in REJECT_COLUMNS:
            out_schema = out_schema.append(pa.field(name, pa.string()))
        partial = self.cfg.partial
        self.accepted_w = ShardWriter(partial / layout.ACCEPTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.rejected_w = ShardWriter(partial / layout.REJECTED, out_schema, max_rows=50_000, flush_seconds=1e9)
        self.progress = Progress(self.source.num_rows, unit=self.unit, work_unit="MB", work_scale=1e-6)

    def finish(self) -> FilterReport:
        """Close the writers, check accepted + rejected = input, write the reports and swap
        OUT.partial in as OUT."""
        if self.accepted_w is None:
            self._open()
        self.accepted_w.close()
        self.rejected_w.close()
        self.progress.close()
        funnel, partial = self.report.funnel, self.cfg.partial
        accepted, rejected = self.accepted_w.written_rows, self.rejected_w.written_rows
        if not (accepted + rejected == funnel.input_rows == self.source.num_rows):
            raise RuntimeFailure(f"row count check failed: {accepted} accepted + {rejected} rejected != "
                                 f"{self.source.num_rows} input rows; output left in {partial}")
        stats = self._stats(accepted, rejected)
        self.report.yields.write(partial / layout.PROBLEMS)
        atomic_write_json(partial / layout.STATS, stats)
        funnel_chart(partial / layout.FUNNEL, funnel.input_rows, funnel.stages(),
                     f"{Path(self.cfg.input).name}: {funnel.accepted:,} of {funnel.input_rows:,} traces accepted")
        self._swap()
        return self.report

    def _stats(self, accepted: int, rejected: int) -> dict:
        cfg, fconfig, funnel = self.cfg, self.fconfig, self.report.funnel
        notes = {k: v for f in self.filters for k, v in f.run_notes().items()}
        return {
            "format": STATS_FORMAT,
            "input": cfg.input, "input_name": public_name(cfg.input),
            "generation": find_provenance(cfg.input),  # kept here: the card needs no path to the input
            "input_rows": funnel.input_rows, "accepted": accepted,
            **notes,
            "rejected": rejected, "check": "accepted + rejected = input",
            "funnel": funnel.stages(),
            "flaws": funnel.flaws(),
            "flaw_descriptions": {f: DESCRIPTIONS[f] for f in funnel.flaws()},
            "flaw_of": flaw_map(funnel.stages()),
            "yield": self.report.yields.summary(),
            **{name: e.summary() for name, e in self.report.evidence.items()},
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
