"""PNG charts shared by the filter (funnel.png) and the dataset card (funnel, lengths)."""

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


def funnel_chart(path: Path, input_rows: int, stages: list[dict], title: str) -> None:
    """Horizontal bars, top to bottom: the input, then rows remaining after each
    filter (`stages` as in stats.json's "funnel": dicts with "filter" and "out")."""
    labels = ["input"] + [s["filter"] for s in stages]
    values = [input_rows] + [s["out"] for s in stages]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.2))
    bars = ax.barh(labels[::-1], values[::-1], color="#4C72B0")
    for bar, v in zip(bars, values[::-1]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:,}", va="center", fontsize=9)
    ax.set_xlabel("rows remaining after each filter")
    ax.set_title(title)
    ax.set_xlim(0, max(values) * 1.18 or 1)
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
