"""PNG charts shared by the filter (funnel.png) and the dataset card (funnel, pass rates, lengths)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    _pyplot().close(fig)
    tmp.replace(path)


def _funnel(ax, input_rows: int, stages: list[dict], title: str) -> None:
    labels = ["input"] + [s["filter"] for s in stages]
    values = [input_rows] + [s["out"] for s in stages]
    bars = ax.barh(labels[::-1], values[::-1], color="#4C72B0")
    for bar, v in zip(bars, values[::-1]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,}", va="center", fontsize=9)
    ax.set_xlabel("rows remaining after each filter")
    ax.set_title(title)
    ax.set_xlim(0, max(values) * 1.18 or 1)


def funnel_chart(path: Path, input_rows: int, stages: list[dict], title: str) -> None:
    """Horizontal bars, top to bottom: the input, then rows remaining after each
    filter (`stages` as in stats.json's "funnel": dicts with "filter" and "out")."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(stages) + 1.7))
    _funnel(ax, input_rows, stages, title)
    fig.tight_layout()
    _save(fig, Path(path))


def distillation_chart(path: Path, input_rows: int, accepted: int, flaws: dict[str, int], models: list[dict],
                       title: str) -> None:
    """The demo's summary: traces rejected per flaw, and accepted; pass@1 and cons@k per model;
    and the flaws in each model's own outputs. `models`: dicts with "label",
    "pass@1", "pass@1_se", "cons@k" and "flaws" (shares in [0, 1], as
    `factory.evaluate` reports them, with "mean_completion_tokens")."""
    plt = _pyplot()
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(18, 5.2), gridspec_kw={"width_ratios": [1.15, 1, 1.1]})
    counts = {**flaws, "accepted": accepted}
    names = list(counts)[::-1]
    bars = left.barh([n.replace("_truncated", " / truncated").replace("_", " ") for n in names],
                     [counts[n] for n in names], color=["#55A868" if n == "accepted" else "#C44E52" for n in names])
    for bar, n in zip(bars, names):
        left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                  f" {counts[n]:,} ({100 * counts[n] / max(1, input_rows):.1f}%)", va="center", fontsize=9)
    left.set_xlim(0, max(list(counts.values()) + [1]) * 1.35)
    left.set_xlabel(f"teacher traces, of {input_rows:,}")
    left.set_title("what rejection sampling removed, by flaw")
    x = range(len(models))
    labels = [m["label"] for m in models]
    p1 = [100 * m["pass@1"] for m in models]
    bars = mid.bar([i - 0.2 for i in x], p1, 0.4, yerr=[100 * m["pass@1_se"] for m in models], capsize=4,
                   color="#4C72B0", label="pass@1 (± SE)")
    mid.bar([i + 0.2 for i in x], [100 * m["cons@k"] for m in models], 0.4, color="#DD8452", label="cons@k")
    for bar, v in zip(bars, p1):
        mid.text(bar.get_x() + bar.get_width() / 2, v + 2, f"{v:.1f}", ha="center", fontsize=9)
    mid.set_xticks(list(x), labels, fontsize=9)
    mid.set_ylim(0, 105)
    mid.set_ylabel("% correct on held-out problems")
    mid.set_title("accuracy")
    kinds = (("mixed_language", "mixed language", "#8172B3"), ("loop_truncated", "loop / truncated", "#C44E52"),
             ("code", "code in reasoning", "#55A868"))
    width = 0.8 / len(kinds)
    for j, (key, name, colour) in enumerate(kinds):
        vals = [100 * m["flaws"].get(key, 0) for m in models]
        bars = right.bar([i - 0.4 + width * (j + 0.5) for i in x], vals, width, color=colour, label=name)
        for bar, v in zip(bars, vals):
            right.text(bar.get_x() + bar.get_width() / 2, v + 0.3, f"{v:.1f}", ha="center", fontsize=8)
    right.set_xticks(list(x), [f"{lab}\n{m['flaws'].get('mean_completion_tokens', 0):.0f} tokens mean"
                               for lab, m in zip(labels, models)], fontsize=9)
    right.set_ylabel("% of the model's own samples")
    right.set_title("flaws in each model's outputs (held-out problems)")
    right.legend(loc="upper right", fontsize=8)
    right.set_ylim(0, max([100 * m["flaws"].get(k, 0) for m in models for k, _, _ in kinds] + [5]) * 1.3)
    mid.legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, Path(path))


def length_histogram(path: Path, lengths: list[int], title: str, xlabel: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.hist(lengths, bins=min(50, max(5, len(set(lengths)))), color="#55A868")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("traces")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, Path(path))


def pass_rate_chart(path: Path, histogram: dict[str, int], title: str) -> None:
    """Problems per pass-rate bin (`histogram`: bin label → problems, as in stats.json's yield)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels, values = list(histogram), list(histogram.values())
    bars = ax.bar(labels, values, color="#8172B3")
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:,}", ha="center", va="bottom", fontsize=9)
    ax.set_xlabel("pass rate: correct samples / samples")
    ax.set_ylabel("problems")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, Path(path))
