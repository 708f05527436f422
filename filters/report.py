"""What a filter run reports: the funnel, the yield per problem, each filter's evidence.

All three are filled row by row by the output step (filters/pipeline/output.py), in the main
process, and end up in `stats.json` (and so in the dataset card); the yield also in
`problems.parquet`, one row per problem, for choosing problems by difficulty.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from filters.flaws import flaw_table, funnel_flaws

# Pass-rate bins: exactly 0 and exactly 1 apart, the rest in quarters.
PASS_RATE_BINS = ("0", "(0, 0.25]", "(0.25, 0.5]", "(0.5, 0.75]", "(0.75, 1)", "1")
# Answer-check outcomes that say nothing about the sample: there was nothing to compare with.
UNJUDGED = ("no_reference", "no_majority")


def pass_rate_bin(rate: float) -> str:
    if rate <= 0:
        return PASS_RATE_BINS[0]
    if rate >= 1:
        return PASS_RATE_BINS[-1]
    return PASS_RATE_BINS[min(4, 1 + int((rate - 1e-12) // 0.25))]


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
            self.reasons[filt][str(reason)] += 1
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
        return "\n".join(lines) + "\n\n" + flaw_table(self.flaws(), self.input_rows)

    def flaws(self) -> dict[str, int]:
        """Rejected traces per flaw (wrong, mixed language, loop/truncated, code, leak, duplicate, …)."""
        return funnel_flaws(self.stages())


@dataclass
class Yield:
    """Per problem: samples, samples whose answer was checked, correct, accepted."""

    problems: dict = field(default_factory=dict)   # problem id → [samples, checked, correct, accepted]

    def add(self, problem_id: str, answer: str | None, accepted: bool) -> None:
        """`answer`: "correct", the reason it is not, or None when no answer check applies."""
        if answer in UNJUDGED:
            answer = None
        c = self.problems.get(problem_id)
        if c is None:
            c = self.problems[problem_id] = [0, 0, 0, 0]
        c[0] += 1
        c[1] += answer is not None
        c[2] += answer == "correct"
        c[3] += accepted

    def summary(self) -> dict:
        samples = sum(c[0] for c in self.problems.values())
        accepted = sum(c[3] for c in self.problems.values())
        rates = [c[2] / c[1] for c in self.problems.values() if c[1]]
        hist = Counter(pass_rate_bin(r) for r in rates)
        return {"input": samples, "accepted": accepted, "share": round(accepted / samples, 4) if samples else 0.0,
                "problems": len(self.problems),
                "problems_with_accepted": sum(1 for c in self.problems.values() if c[3]),
                "problems_without_accepted": sum(1 for c in self.problems.values() if not c[3]),
                "samples_per_problem": round(samples / len(self.problems), 2) if self.problems else 0.0,
                "problems_checked": len(rates),
                "mean_pass_rate": round(sum(rates) / len(rates), 4) if rates else None,
                "pass_rate_histogram": {b: hist.get(b, 0) for b in PASS_RATE_BINS}}

    def write(self, path: Path) -> None:
        """problems.parquet: one row per problem, atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids = list(self.problems)
        cols = list(zip(*self.problems.values())) if ids else [(), (), (), ()]
        table = pa.table({"problem_id": pa.array(ids, pa.string()),
                          "samples": pa.array(cols[0], pa.int32()), "checked": pa.array(cols[1], pa.int32()),
                          "correct": pa.array(cols[2], pa.int32()), "accepted": pa.array(cols[3], pa.int32()),
                          "pass_rate": pa.array([c[2] / c[1] if c[1] else None for c in self.problems.values()],
                                                pa.float64())})
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)

    def table(self) -> str:
        s = self.summary()
        lines = [f"yield: {s['accepted']:,} of {s['input']:,} traces accepted ({100 * s['share']:.1f}%); "
                 f"{s['problems']:,} problems, {s['problems_without_accepted']:,} with no accepted sample"]
        if s["mean_pass_rate"] is not None:
            hist = "  ".join(f"{b}: {n:,}" for b, n in s["pass_rate_histogram"].items())
            lines.append(f"pass rate (correct / samples) over {s['problems_checked']:,} problems: "
                         f"mean {100 * s['mean_pass_rate']:.1f}%; {hist}")
        return "\n".join(lines)


@dataclass
class FilterReport:
    """What a run found: the funnel, the yield per problem, and each filter's evidence tally
    (`Filter.evidence`: the leaks per benchmark)."""

    funnel: Funnel
    yields: Yield
    evidence: dict = field(default_factory=dict)   # filter name → its Evidence
    notes: list = field(default_factory=list)      # more lines for the printed report (the judge, the band)

    @property
    def accepted(self) -> int:
        return self.funnel.accepted

    @property
    def input_rows(self) -> int:
        return self.funnel.input_rows

    def table(self) -> str:
        return "\n".join([self.funnel.table(), self.yields.table(), *self.notes])
