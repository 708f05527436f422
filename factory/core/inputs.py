"""One reader for what every verb takes as input: a file, a folder, a run folder, or a Hub id.

`resolve(spec)` decides which it is (a local path wins over a Hub id) and names the
local data files (factory/core/layout.py, `data_files`); `Input.hub_dataset` loads a
Hub dataset with the same error for every verb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import InputError
from factory.core.layout import DATA_SUFFIXES, data_files

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(spec: str) -> bool:
    """`user/name`, not a path: what to hand to `datasets.load_dataset` when no such file exists."""
    return bool(_HUB_ID.match(spec)) and not spec.endswith(DATA_SUFFIXES)


@dataclass(frozen=True)
class Input:
    spec: str
    files: list[Path] = field(default_factory=list)   # local data files; empty for a Hub dataset
    hub_id: str | None = None

    def hub_dataset(self, split: str = "train", subset: str | None = None):
        try:
            import datasets

            return datasets.load_dataset(self.hub_id, subset, split=split)
        except Exception as e:
            raise InputError(f"could not load Hub dataset {self.hub_id!r} (split {split!r}): "
                             f"{type(e).__name__}: {e}") from None


def resolve(spec: str, suffixes: tuple[str, ...] = DATA_SUFFIXES) -> Input:
    path = Path(spec)
    if path.exists():
        return Input(spec, data_files(path, suffixes))
    if looks_like_hub_id(spec):
        return Input(spec, hub_id=spec)
    raise InputError(f"{spec}: no such file or folder (and not a Hub dataset id like user/name)")
