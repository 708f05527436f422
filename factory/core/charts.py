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


def funnel_and_scores_chart(path: Path, input_rows: int, stages: list[dict], scores: list[dict], title: str) -> None:
    """The funnel beside a bar per model (`scores`: dicts with "label",
    "pass@1", "pass@1_se" and "cons@k", shares in [0, 1])."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(stages) + 2.6),
                                      gridspec_kw={"width_ratios": [1.1, 1]})
    _funnel(left, input_rows, stages, "filter funnel")
    x = range(len(scores))
    p1 = [100 * s["pass@1"] for s in scores]
    bars = right.bar([i - 0.2 for i in x], p1, 0.4, yerr=[100 * s["pass@1_se"] for s in scores], capsize=4,
                     color="#4C72B0", label="pass@1 (± SE)")
    right.bar([i + 0.2 for i in x], [100 * s["cons@k"] for s in scores], 0.4, color="#DD8452", label="cons@k")
    for bar, v in zip(bars, p1):
        right.text(bar.get_x() + bar.get_width() / 2, v + 2, f"{v:.1f}", ha="center", fontsize=9)
    right.set_xticks(list(x), [s["label"] for s in scores], fontsize=9)
    right.set_ylim(0, 105)
    right.set_ylabel("% correct on held-out problems")
    right.set_title("teacher and students")
    right.legend(loc="upper right", fontsize=8)
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
