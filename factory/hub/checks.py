"""Checks on a staged repo before anything is uploaded.

1. The card's YAML parses into huggingface_hub's DatasetCardData and its
   configs point at files that exist. (On upload, huggingface_hub also has
   the Hub validate the card's YAML before committing.)
2. `datasets.load_dataset(STAGE)` returns exactly the accepted rows (a mixture's
   rows, train and test): the same count and the same content, row for row.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from factory.core.errors import InputError
from factory.hub.mixture import mixture_rows
from factory.hub.stage import Staged, accepted_rows_by_key


def check_card(stage: Path) -> dict:
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(stage / "README.md", repo_type="dataset")
    data = card.data.to_dict()
    for key in ("license", "language", "task_categories", "size_categories", "pretty_name", "configs"):
        if not data.get(key):
            raise InputError(f"{stage / 'README.md'}: card metadata lacks {key!r}")
    for config in data["configs"]:
        for entry in config["data_files"]:
            if not list(stage.glob(entry["path"])):
                raise InputError(f"{stage / 'README.md'}: config {config['config_name']!r} points at "
                                 f"{entry['path']!r}, which matches no staged file")
    return data


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def check_round_trip(staged: Staged, folder: Path) -> int:
    """Load the staged repo with `datasets` (every split of every config) and compare with the accepted
    rows, or with a mixture's rows (train and test)."""
    import shutil
    import tempfile

    import datasets

    datasets.disable_progress_bars()
    loaded = Counter()
    n = 0
    cache = tempfile.mkdtemp(prefix="factory-roundtrip-")  # never a stale cached copy
    try:
        for name in staged.configs:
            if name in ("rejected", "hard"):  # not the accepted rows (hard: a subset of them)
                continue
            for split in datasets.load_dataset(str(staged.root), name, cache_dir=cache).values():
                for row in split:
                    loaded[_key(row)] += 1
                    n += 1
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    rows = mixture_rows(folder) if staged.mixture is not None else \
        (r for rows in accepted_rows_by_key(folder).values() for r in rows)
    expected = Counter(_key(r) for r in rows)
    if n != sum(expected.values()) or loaded != expected:
        missing = sum((expected - loaded).values())
        extra = sum((loaded - expected).values())
        raise InputError(f"staged dataset does not round-trip: {n} rows loaded, {sum(expected.values())} accepted "
                         f"({missing} missing or changed, {extra} unexpected)")
    return n
