"""What an accepted trace costs: the generation's device time and tokens, divided among the traces and
summed by what became of them (stats.json `cost`, the printed summary, the card).

The generate run's manifest says what it spent (`cost`: device-seconds by device kind over every
invocation, generators/run.py). A trace's share of that time is its share of the run's completion
tokens: decoding is where a reasoning run's time goes (prompts are short beside 4k-32k-token
traces). Per outcome (accepted, or the filter that rejected it) the filter adds up the traces, their
tokens and their device-seconds. The generative judge's own time (its backend's devices x its
seconds) and tokens count on top. One accepted trace costs everything the input and the judge
spent, over the accepted count: the rejected traces were paid for too.

A price per device-hour or per million tokens (--price-per-device-hour, --price-per-million-tokens)
turns both into money. An input that is not a generate run (a Parquet file, a Hub dataset) has no
device time: its tokens are still counted, where it has the token columns.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

ACCEPTED = "accepted"


@dataclass(frozen=True)
class Prices:
    per_device_hour: float | None = None
    per_million_tokens: float | None = None


class Spend:
    """Traces and tokens by outcome, as the output step writes them."""

    def __init__(self):
        self.by: dict[str, Counter] = defaultdict(Counter)

    def add(self, outcome: str | None, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        tally = self.by[outcome or ACCEPTED]
        tally["traces"] += 1
        tally["prompt_tokens"] += prompt_tokens or 0
        tally["completion_tokens"] += completion_tokens or 0

    def summary(self, run_cost: dict | None, judge: dict | None, prices: Prices) -> dict:
        """stats.json's `cost`: per outcome and in all, and one accepted trace's share of everything."""
        rates = _rates(run_cost)
        outcomes = {name: _priced(_with_devices(dict(t), rates), prices) for name, t in sorted(self.by.items())}
        total = _add(outcomes.values())
        judge_part = _judge(judge)
        everything = _add([total, judge_part]) if judge_part else total
        accepted = self.by[ACCEPTED]["traces"] if ACCEPTED in self.by else 0
        per = None if not accepted else _priced({k: _div(v, accepted) for k, v in everything.items()
                                                if k not in ("traces", "money")}, prices)
        rejected = {name: o for name, o in outcomes.items() if name != ACCEPTED}
        return {"device_time_known": bool(rates), "attribution": "device-seconds by each trace's completion tokens",
                "generation": run_cost, "judge": judge_part, "by_outcome": outcomes,
                "rejected": _add(rejected.values()) if rejected else None, "input": total,
                "total": _priced(everything, prices), "per_accepted_trace": per,
                "prices": {"per_device_hour": prices.per_device_hour,
                           "per_million_tokens": prices.per_million_tokens}}


def _rates(run_cost: dict | None) -> dict[str, float]:
    """Device-seconds per completion token, by device kind ({} when the input's device time is unknown)."""
    if not run_cost or not run_cost.get("device_seconds") or not run_cost.get("completion_tokens"):
        return {}
    return {kind: secs / run_cost["completion_tokens"] for kind, secs in run_cost["device_seconds"].items()}


def _with_devices(tally: dict, rates: dict[str, float]) -> dict:
    if rates:
        tally["device_seconds"] = {k: round(r * tally["completion_tokens"], 3) for k, r in rates.items()}
    return tally


def _judge(judge: dict | None) -> dict | None:
    if not judge:
        return None
    devices = (judge.get("backend") or {}).get("devices")
    out = {"traces": 0, "prompt_tokens": judge.get("prompt_tokens", 0), "completion_tokens": judge.get("completion_tokens", 0)}
    if devices:
        out["device_seconds"] = {devices["kind"]: round(judge.get("seconds", 0.0) * devices["count"], 3)}
    return out


def _add(parts) -> dict:
    out: dict = {}
    for part in parts:
        for key, value in part.items():
            if key == "money":
                continue
            if isinstance(value, dict):
                mine = out.setdefault(key, {})
                for k, v in value.items():
                    mine[k] = round(mine.get(k, 0) + v, 3)
            else:
                out[key] = out.get(key, 0) + value
    return out


def _div(value, n: int):
    if isinstance(value, dict):
        return {k: round(v / n, 3) for k, v in value.items()}
    return round(value / n, 1)


PRICED = {"devices": "device-hour", "tokens": "million tokens"}   # what each of `money`'s prices is per


def _priced(tally: dict, prices: Prices) -> dict:
    """The tally with its money, where a price is given: device-hours (every kind at the one price)
    and tokens (prompt and completion)."""
    money = {}
    if prices.per_device_hour is not None and "device_seconds" in tally:
        money["devices"] = _sig(sum(tally["device_seconds"].values()) / 3600 * prices.per_device_hour)
    if prices.per_million_tokens is not None:
        tokens = tally.get("prompt_tokens", 0) + tally.get("completion_tokens", 0)
        money["tokens"] = _sig(tokens / 1e6 * prices.per_million_tokens)
    return {**tally, **({"money": money} if money else {})}


def _sig(x: float) -> float:
    """Six significant digits: a trace can cost a fraction of a cent."""
    return float(f"{x:.6g}")


def lines(cost: dict) -> list[str]:
    """The printed summary's lines."""
    per, total = cost.get("per_accepted_trace"), cost["total"]
    hours = lambda d: ", ".join(f"{v / 3600:,.3f} {k}-hours" for k, v in sorted((d or {}).items())) or "unknown"  # noqa: E731
    out = ["", f"cost: {total['prompt_tokens'] + total['completion_tokens']:,} tokens, device time "
               f"{hours(total.get('device_seconds'))}" + ("" if cost["device_time_known"] else
                                                          " (the input is not a generate run)")]
    if per:
        money = per.get("money") or {}
        out.append(f"one accepted trace: {per['prompt_tokens'] + per['completion_tokens']:,.0f} tokens, "
                   + ", ".join(f"{v:,.1f} {k}-seconds" for k, v in sorted((per.get("device_seconds") or {}).items()))
                   + "".join(f"; {v:.4g} at your price per {PRICED[k]}" for k, v in money.items()))
    rejected = cost.get("rejected")
    if rejected:
        share = rejected["completion_tokens"] / max(1, cost["input"]["completion_tokens"])
        out.append(f"spent on rejected traces: {rejected['completion_tokens']:,} completion tokens "
                   f"({100 * share:.1f}%), {hours(rejected.get('device_seconds'))}")
    return out
