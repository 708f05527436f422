"""Filter configuration: which filters, in what order, with what thresholds.

YAML holds values only (`filters/default.yaml` is the shipped default):

    verify_timeout: 5        # seconds a math-verify call may take
    filters:                 # run top to bottom; the first that fires names the reason
      format: {}
      readability: {max_paragraph_chars: 3000}
      ...

Every filter name maps to one class through `filters.base.REGISTRY`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import InputError

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")


@dataclass
class FilterConfig:
    filters: dict[str, dict] = field(default_factory=dict)
    verify_timeout: float = 5.0
    workers: int = 0            # 0: one per core
    batch_rows: int = 256
    source: str = "defaults"

    def __post_init__(self):
        from filters import registry  # noqa: F401  (fills the registry)
        from filters.base import REGISTRY

        if not self.filters:
            raise ValueError("no filters configured")
        for name, options in self.filters.items():
            if name not in REGISTRY:
                raise ValueError(f"unknown filter {name!r} (known: {', '.join(sorted(REGISTRY))})")
            if not isinstance(options or {}, dict):
                raise ValueError(f"filter {name!r}: options must be a mapping, got {options!r}")
            known = {f.name for f in dataclasses.fields(REGISTRY[name]) if f.init and not f.name.startswith("_")}
            unknown = set(options or {}) - known
            if unknown:
                raise ValueError(f"filter {name!r}: unknown option(s) {', '.join(sorted(unknown))} "
                                 f"(known: {', '.join(sorted(known - {'verifier'}))})")
        if "dedup" in self.filters and list(self.filters)[-1] != "dedup":
            raise ValueError("dedup must be the last filter: it keeps the first good samples of each problem")
        if self.verify_timeout <= 0 or self.batch_rows < 1 or self.workers < 0:
            raise ValueError("verify_timeout and batch_rows must be positive, workers >= 0")
        for name in self.filters:  # options are valid values, not just valid names
            self.build_one(name)

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def build_one(self, name: str):
        from filters.base import REGISTRY

        return REGISTRY[name](**(self.filters[name] or {}))

    @classmethod
    def load(cls, path: Path | None = None) -> "FilterConfig":
        import yaml

        path = Path(path or DEFAULT_CONFIG)
        if not path.is_file():
            raise InputError(f"--config {path}: no such file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise InputError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a mapping with a 'filters' key")
        unknown = set(data) - {"filters", "verify_timeout", "workers", "batch_rows"}
        if unknown:
            raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**data, source=str(path))
        except (ValueError, TypeError) as e:
            raise InputError(f"{path}: {e}") from None
