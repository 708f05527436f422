"""A training mixture: named sources in set shares, built once into Parquet shards (open-r1's shape).

R1's 800k SFT set was ~600k reasoning traces and ~200k general samples; a mixture file says
that in a few lines (students/mixtures/r1.yaml):

    dataset_mixture:
      datasets:
        - id: runs/r1-math-filtered     # a filter run (its accepted/), Parquet/JSONL file or folder, or Hub id
          config: null                  # Hub config name (optional)
          split: train                  # (optional)
          columns: [problem_id, prompt, reasoning, response]   # optional: the columns kept
          weight: 0.75                  # a share of the rows (weights are normalised) …
        - id: runs/general-filtered
          rows: 200000                  # … or an exact count; a source has one of the two
      seed: 42
      test_split_size: 0.0              # share of each source's rows held out as `test`
      total_rows: 800000                # optional, with weights: the mixture's size

`load` reads and checks the file (every error names its file:line); `plan` finds the sources and
says how many rows each gives (no row is read: Parquet footers, `datasets` row counts); `build`
writes the mixture into a folder it holds (factory/core/outdir.py) and `describe` prints a plan.

Shares: `rows` sources take their count; weighted sources share `total_rows` minus those (by
weight), or, without `total_rows`, as many rows as the weights allow without repeating one. A
row whose prompt and completion already appear in an earlier-listed source is not available in a
later one (counted in mixture.json), so the same trace is never trained on twice. Which rows of a
source are taken, and where each goes, is decided by a hash of (seed, source id, row key): the same
file and sources give the same rows, byte for byte (students/mixture_rows.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout, outdir
from factory.core.errors import InputError, RuntimeFailure
from factory.core.inputs import resolve
from factory.core.shards import atomic_write_json
from factory.core.types import check_type, did_you_mean
from factory.core.yamlfile import YamlMapping, load_mapping
from students import mixture_rows

MIXTURES = Path(__file__).parent / "mixtures"
KEY = "dataset_mixture"
FORMAT = "r1-factory.mixture/1"


class _Bad(ValueError):
    """A bad value of the key `key`: the loader names that key's line."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass
class SourceSpec:
    """One entry of `datasets`: where its rows come from and how many of them go in."""

    id: str
    config: str | None = None
    split: str = "train"
    columns: list[str] | None = None
    weight: float | None = None
    rows: int | None = None

    def __post_init__(self):
        if not self.id.strip():
            raise _Bad("id", "id: empty; give a run folder, a Parquet/JSONL file or folder, or a Hub id")
        if self.weight is not None and self.rows is not None:
            raise _Bad("rows", f"{self.id}: has both weight and rows; give one (a share, or an exact count)")
        if self.weight is None and self.rows is None:
            raise _Bad("id", f"{self.id}: needs a weight (a share of the mixture) or rows (an exact count)")
        if self.weight is not None and not self.weight > 0:
            raise _Bad("weight", f"{self.id}: weight must be above 0, not {self.weight}")
        if self.rows is not None and self.rows < 1:
            raise _Bad("rows", f"{self.id}: rows must be at least 1, not {self.rows}")
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise _Bad("columns", f"{self.id}: columns lists a name twice")


@dataclass
class Mixture:
    """A mixture file, checked; `where(i, key)` names the line of source i's key (or a top-level key)."""

    datasets: list[SourceSpec]
    seed: int = 42
    test_split_size: float = 0.0
    total_rows: int | None = None
    path: Path = field(default=Path("mixture.yaml"), compare=False)
    sha256: str = field(default="", compare=False)
    doc: YamlMapping | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if not self.datasets:
            raise _Bad("datasets", "datasets: empty; list at least one source")
        if not 0 <= self.test_split_size < 1:
            raise _Bad("test_split_size", f"test_split_size must be in [0, 1), not {self.test_split_size}")
        if self.total_rows is not None and self.total_rows < 1:
            raise _Bad("total_rows", f"total_rows must be at least 1, not {self.total_rows}")
        fixed = sum(s.rows for s in self.datasets if s.rows is not None)
        weighted = any(s.weight is not None for s in self.datasets)
        if self.total_rows is not None and (fixed > self.total_rows or (not weighted and fixed != self.total_rows)):
            raise _Bad("total_rows", f"total_rows {self.total_rows:,}: the sources with `rows` take {fixed:,}"
                                     + ("" if weighted else "; with no weighted source they must add up to it"))

    def where(self, i: int | None, key: str) -> str:
        if self.doc is None:
            return str(self.path)
        return self.doc.where(KEY, "datasets", i, key) if i is not None else self.doc.where(KEY, key)


_TOP = {"datasets": list, "seed": int, "test_split_size": float, "total_rows": int | None}
_SOURCE = {"id": str, "config": str | None, "split": str, "columns": list[str] | None, "weight": float | None,
           "rows": int | None}


def is_mixture_file(spec) -> bool:
    """Whether `--data` names a mixture file (.yaml or .yml) rather than the rows themselves."""
    return str(spec).lower().endswith((".yaml", ".yml"))


def shipped() -> list[Path]:
    return sorted(MIXTURES.glob("*.yaml"))


def load(path, *, check_sources: bool = True) -> Mixture:
    """The mixture file at `path`, every value checked (InputError naming file:line); with
    `check_sources`, its sources too (`plan`: each exists, has the columns and the rows asked)."""
    path = Path(path)
    doc = load_mapping(path, f"with a {KEY!r} key (a mixture file)")
    _known(doc, (), doc.data, {KEY: dict})
    if KEY not in doc.data:
        raise InputError(f"{path}: no {KEY!r} key; a mixture file holds `{KEY}: {{datasets: [...]}}`")
    body = doc.data[KEY]
    _typed(doc, (), {KEY: body}, {KEY: dict})
    _known(doc, (KEY,), body, _TOP)
    _typed(doc, (KEY,), body, _TOP)
    if "datasets" not in body:
        raise InputError(f"{doc.where(KEY)}: {KEY}: no 'datasets' list")
    specs = [_source(doc, i, item) for i, item in enumerate(body["datasets"])]
    _no_duplicates(doc, specs)
    try:
        mixture = Mixture(specs, path=path, doc=doc, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                          **{k: v for k, v in body.items() if k != "datasets"})
    except _Bad as e:
        raise InputError(f"{doc.where(KEY, e.key)}: {e}") from None
    if check_sources:
        plan(mixture)
    return mixture


def _known(doc: YamlMapping, at: tuple, values: dict, known: dict) -> None:
    for name in values:
        if name not in known:
            label = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in at[1:] + (name,)).lstrip(".")
            raise InputError(f"{doc.where(*at, name)}: {label}: unknown key{did_you_mean(name, known)} "
                             f"(known: {', '.join(known)})")


def _typed(doc: YamlMapping, at: tuple, values: dict, types: dict, label: str = "") -> None:
    for name, value in values.items():
        try:
            check_type(value, types[name], f"{doc.where(*at, name)}: {label}{name}")
        except ValueError as e:
            raise InputError(str(e)) from None


def _source(doc: YamlMapping, i: int, item) -> SourceSpec:
    at = (KEY, "datasets", i)
    if not isinstance(item, dict):
        raise InputError(f"{doc.where(*at)}: datasets[{i}]: expected a mapping with an `id`, got {item!r}")
    _known(doc, at, item, _SOURCE)
    if "id" not in item:
        raise InputError(f"{doc.where(*at)}: datasets[{i}]: no `id` (a run folder, a file or folder, or a Hub id)")
    _typed(doc, at, item, _SOURCE, f"datasets[{i}].")
    try:
        return SourceSpec(**item)
    except _Bad as e:
        raise InputError(f"{doc.where(*at, e.key)}: datasets[{i}]: {e}") from None


def _no_duplicates(doc: YamlMapping, specs: list[SourceSpec]) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(specs):
        if s.id in seen:
            raise InputError(f"{doc.where(KEY, 'datasets', i, 'id')}: datasets[{i}]: {s.id} is listed twice "
                             f"(also datasets[{seen[s.id]}]); the `source` column could not tell them apart")
        seen[s.id] = i


# -- the plan: which sources, how many rows each ----------------------------------------------------

@dataclass
class Found:
    """A source found: its Parquet files (or its rows loaded through `datasets`), rows and columns."""

    spec: SourceSpec
    kind: str                      # "filter run", "files", "json" (read through datasets) or "hub"
    files: list[Path]              # the files read (JSON files, for "json"); none for a Hub id
    rows: int
    columns: list[str]             # the columns kept (`columns`, else all)
    folder: Path | None = None     # the run folder, for its stats.json (funnel, licence)
    dataset: object = None         # the `datasets.Dataset` of a "json" or "hub" source
    licence: str = "unknown"


@dataclass
class Plan:
    mixture: Mixture
    sources: list[Found]
    taken: list[int]               # rows per source
    test: list[int]                # of which held out as `test`

    @property
    def total(self) -> int:
        return sum(self.taken)


def plan(mixture: Mixture) -> Plan:
    """The sources found and the rows each gives; InputError (naming the source's line) for a source
    that is missing, lacks a column, or has fewer rows than asked. Reads no row of a Parquet source."""
    found = [_find(mixture, i, s) for i, s in enumerate(mixture.datasets)]
    taken = counts(mixture, [f.rows for f in found])
    _not_empty(mixture, taken)
    return Plan(mixture, found, taken, [_held_out(n, mixture.test_split_size) for n in taken])


def _find(mixture: Mixture, i: int, spec: SourceSpec) -> Found:
    where = mixture.where(i, "id")
    try:
        found = resolve(spec.id)
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    if found.hub_id:
        return _from_dataset(mixture, i, spec, "hub", [], found.hub_dataset(spec.split, spec.config))
    path = Path(spec.id)
    if spec.config is not None:
        raise InputError(f"{mixture.where(i, 'config')}: {spec.id}: config names a Hub dataset's config; "
                         "this is a local source")
    parquet = [f for f in found.files if layout.data_suffix(f, (".parquet",))]
    if parquet and len(parquet) != len(found.files):
        raise InputError(f"{where}: {spec.id}: mixes Parquet and JSON files; give one kind per source")
    if not parquet:
        return _from_dataset(mixture, i, spec, "json", found.files, _load_json(where, found.files))
    rows, names = mixture_rows.parquet_shape(found.files)
    run = layout.is_filter_run(path)
    return Found(spec, "filter run" if run else "files", found.files, rows, _columns(mixture, i, names),
                 path if run else None, licence=_run_licence(path) if run else "unknown")


def _from_dataset(mixture: Mixture, i: int, spec: SourceSpec, kind: str, files: list[Path], ds) -> Found:
    licence = (getattr(getattr(ds, "info", None), "license", None) or "unknown") if kind == "hub" else "unknown"
    return Found(spec, kind, files, ds.num_rows, _columns(mixture, i, list(ds.column_names)), dataset=ds,
                 licence=licence)


def _load_json(where: str, files: list[Path]):
    """JSON lines or JSON list files as one `datasets.Dataset` (gzip read too)."""
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset("json", data_files=[str(f) for f in files], split="train")
    except Exception as e:
        raise InputError(f"{where}: cannot read {files[0] if len(files) == 1 else files[0].parent} as JSON "
                         f"({type(e).__name__}: {str(e)[:200]})") from None


def _columns(mixture: Mixture, i: int, names: list[str]) -> list[str]:
    spec = mixture.datasets[i]
    kept = names if spec.columns is None else spec.columns
    if {"source", "source_original"} <= set(kept):
        raise InputError(f"{mixture.where(i, 'id')}: {spec.id}: has both `source` and `source_original`; the "
                         "mixture's `source` column would push its own `source` onto the other (use `columns`)")
    if spec.columns is None:
        return names
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise InputError(f"{mixture.where(i, 'columns')}: {spec.id}: no column {missing[0]!r}"
                         f"{did_you_mean(missing[0], names)} (it has {', '.join(names)})")
    return list(spec.columns)


def _run_licence(folder: Path) -> str:
    """The licence a filter run's stats.json (or its generate manifest) states, else "unknown"."""
    for record in (folder / layout.STATS, folder / layout.MANIFEST):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for d in (data, data.get("generation") or {}, (data.get("generation") or {}).get("problems") or {}):
            value = isinstance(d, dict) and (d.get("license") or d.get("licence"))
            if value:
                return str(value)
    return "unknown"


def counts(mixture: Mixture, available: list[int], why: str = "") -> list[int]:
    """Rows taken from each source given the rows each has (see the module docstring); InputError naming
    the line of the source (or of total_rows) that asks for more than there is. `why`: what `available`
    already left out, for the message."""
    specs = mixture.datasets
    taken = [s.rows or 0 for s in specs]
    for i, s in enumerate(specs):
        if s.rows is not None and s.rows > available[i]:
            raise InputError(f"{mixture.where(i, 'rows')}: {s.id}: asks for {s.rows:,} rows but has "
                             f"{available[i]:,}{why}")
    weighted = [i for i, s in enumerate(specs) if s.weight is not None]
    if not weighted:
        return taken
    total_weight = sum(specs[i].weight for i in weighted)
    shares = {i: specs[i].weight / total_weight for i in weighted}
    if mixture.total_rows is not None:
        room = mixture.total_rows - sum(taken)
    else:  # as many as the weights allow: the scarcest source, relative to its share, sets the size
        room = min(math.floor(available[i] / shares[i] + 1e-9) for i in weighted)
    cap = available if mixture.total_rows is None else None
    for i, n in _largest_remainder(room, shares, cap).items():
        if n > available[i]:
            raise InputError(f"{mixture.where(i, 'weight')}: {specs[i].id}: its share of total_rows is {n:,} rows "
                             f"but it has {available[i]:,}{why}; lower total_rows or its weight")
        taken[i] = n
    return taken


def _largest_remainder(total: int, shares: dict[int, float], cap: list[int] | None) -> dict[int, int]:
    """`total` split by `shares` in whole rows adding up to it: floors, then the largest remainders
    (ties by order) get one more; with `cap`, only where the source has a row to spare."""
    exact = {i: total * s for i, s in shares.items()}
    out = {i: math.floor(x + 1e-9) for i, x in exact.items()}
    left = total - sum(out.values())
    for i in sorted(shares, key=lambda i: (-(exact[i] - out[i]), i)):
        if left > 0 and (cap is None or out[i] < cap[i]):
            out[i] += 1
            left -= 1
    return out


def _held_out(n: int, share: float) -> int:
    return math.floor(n * share + 0.5) if share else 0


def describe(p: Plan) -> str:
    """The plan as printed by a dry run: per source rows available, taken, share, held out."""
    w = max(len(f.spec.id) for f in p.sources) + 2
    lines = [f"mixture {p.mixture.path} (sha256 {p.mixture.sha256[:12]}, seed {p.mixture.seed}): "
             f"{p.total:,} rows" + (f", {sum(p.test):,} held out as test" if any(p.test) else ""),
             f"  {'source':<{w}}{'kind':<12}{'available':>12}{'taken':>12}{'share':>8}"]
    for f, n, t in zip(p.sources, p.taken, p.test):
        lines.append(f"  {f.spec.id:<{w}}{f.kind:<12}{f.rows:>12,}{n:>12,}{n / max(1, p.total):>8.1%}"
                     + (f"  ({t:,} test)" if t else ""))
    lines.append("  rows whose prompt and completion already appear in an earlier source are left out when the "
                 "mixture is built (counted in its mixture.json)")
    return "\n".join(lines)


# -- building ---------------------------------------------------------------------------------------

@dataclass
class MixtureResult:
    out: Path
    reused: bool
    rows: dict[str, int]           # split → rows
    sources: list[dict]            # mixture.json's per-source records
    duplicates: int


def build(mixture: Mixture, out: Path, *, overwrite: bool = False) -> MixtureResult:
    """The mixture's rows written into `out` (see the module docstring and mixture.json), or reused when
    `out` already holds this mixture built from these sources. `out` is held like every output
    (factory/core/outdir.py): apart from the sources, locked, written as OUT.partial and swapped in
    whole. `out` holding another mixture (or the sources changed) is rebuilt with `overwrite`, else
    refused. Every check of the file and the sources comes before anything is written."""
    out = Path(out)
    p = plan(mixture)
    partial, old = out.with_name(out.name + ".partial"), out.with_name(out.name + ".old")
    inputs = {f"{mixture.where(i, 'id')} id": f.spec.id for i, f in enumerate(p.sources) if f.kind != "hub"}
    with outdir.claim(out, "mixture", inputs=inputs, derived=(partial, old), flag="mixture folder") as claim:
        claim.check(replacing=True)
        built = _manifest(out)
        if built is not None:
            differs = _differences(built, p)
            if not differs:
                return _result(out, built, reused=True)
            if not overwrite:
                raise InputError(f"{out} holds a mixture built from other inputs ({differs}); choose another "
                                 "folder, or remove it to rebuild")
        elif out.exists() and any(p_ for p_ in out.iterdir() if p_.name != outdir.MARKER):
            raise InputError(f"{out}: not empty and holds no mixture.json; choose a new or empty folder")
        claim.remove(old)
        claim.remove(partial)
        claim.make(partial)
        try:
            manifest = _write(p, partial, _identity(p))
            claim.swap(partial, old)
        except BaseException as e:
            claim.remove(partial)   # nothing half-written is left behind
            if isinstance(e, OSError):
                raise RuntimeFailure(f"the mixture stopped: {outdir.os_error_line(e)}; its unfinished output was "
                                     f"removed and {out} is unchanged; rerun once fixed") from None
            raise
    return _result(out, manifest, reused=False)


def _manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / layout.MIXTURE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _identity(p: Plan) -> dict:
    """What a built mixture must match to be reused: the file's bytes and each source's files."""
    return {"sha256": p.mixture.sha256,
            "sources": [{"id": f.spec.id, "config": f.spec.config, "split": f.spec.split,
                         "files": [mixture_rows.file_record(x) for x in f.files]} for f in p.sources]}


def _differences(manifest: dict, p: Plan) -> str:
    old, new = manifest.get("identity") or {}, _identity(p)
    if old.get("sha256") != new["sha256"]:
        return f"the mixture file {p.mixture.path} changed (sha256)"
    olds = {s["id"]: s for s in old.get("sources", [])}
    changed = [s["id"] for s in new["sources"] if olds.get(s["id"]) != s]
    return f"source {changed[0]} changed" if changed else ""


def is_built(mixture: Mixture, out: Path) -> bool:
    """Whether `out` holds this mixture built from these sources (what a training rank may read unheld)."""
    built = _manifest(Path(out))
    return built is not None and not _differences(built, plan(mixture))


def _result(out: Path, manifest: dict, *, reused: bool) -> MixtureResult:
    return MixtureResult(out, reused, dict(manifest["rows"]), manifest["sources"], manifest["duplicates"])


def _write(p: Plan, partial: Path, identity: dict) -> dict:
    """The mixture into `partial`: the rows, rows.parquet, mixture.json; returns the manifest."""
    m, ids = p.mixture, [f.spec.id for f in p.sources]
    read = [[mixture_rows.copy_dataset(f.dataset, partial / layout.SOURCES / f"{i:02d}.parquet")]
            if f.dataset is not None else f.files  # read through `datasets`: copied once, scanned like the rest
            for i, f in enumerate(p.sources)]
    frames = [mixture_rows.scan(files, f.columns) for files, f in zip(read, p.sources)]
    keys = mixture_rows.keys(frames, ids, m.seed)
    available = mixture_rows.available(keys, len(frames))
    taken = counts(m, available, " once the rows already in an earlier source are left out")
    _not_empty(m, taken)
    test = [_held_out(n, m.test_split_size) for n in taken]
    chosen = mixture_rows.choose(keys, taken, test)
    shards, columns = mixture_rows.write(frames, read, ids, chosen, partial)
    mixture_rows.write_rows_file(chosen, ids, partial / layout.MIXTURE_ROWS)
    table = mixture_rows.source_table(partial, ids)
    sources = [_source_record(f, files, partial, avail, n, t, table[f.spec.id], sum(taken))
               for f, files, avail, n, t in zip(p.sources, read, available, taken, test)]
    manifest = {"format": FORMAT, "file": str(m.path), "sha256": m.sha256, "seed": m.seed,
                "test_split_size": m.test_split_size, "total_rows": m.total_rows,
                "rows": {layout.TRAIN: sum(taken) - sum(test), **({layout.TEST: sum(test)} if any(test) else {})},
                "duplicates": sum(s["duplicates"] for s in sources), "key": mixture_rows.KEY_DOC,
                "rows_file": layout.MIXTURE_ROWS, "shards": shards, "columns": columns, "sources": sources,
                "identity": identity, "versions": mixture_rows.versions()}
    atomic_write_json(partial / layout.MIXTURE, manifest)
    return manifest


def _not_empty(m: Mixture, taken: list[int]) -> None:
    if sum(taken) == 0:
        raise InputError(f"{m.where(None, 'datasets')}: the mixture would hold no row (a weighted source has none "
                         "to give); check the sources")


def _source_record(f: Found, read: list[Path], partial: Path, avail: int, n: int, t: int, stats: dict,
                   total: int) -> dict:
    """A source in mixture.json: what it is, what it had, what it gave, and what the card shows."""
    return {"id": f.spec.id, "kind": f.kind, "config": f.spec.config, "split": f.spec.split,
            "columns": f.columns, "files": [mixture_rows.file_record(x) for x in f.files],
            "copy": [str(x.relative_to(partial)) for x in read if partial in x.parents] or None,
            "rows_in_source": f.rows, "duplicates": f.rows - avail, "rows_available": avail,
            "rows_taken": n, "train": n - t, "test": t, "share": n / max(1, total),
            "asked": {"weight": f.spec.weight} if f.spec.weight is not None else {"rows": f.spec.rows},
            "domains": stats["domains"], "mean_completion_chars": stats["mean_completion_chars"],
            "funnel": _funnel(f.folder), "licence": f.licence}


def _funnel(folder: Path | None) -> dict | None:
    """A filter run's funnel in brief (input_rows, accepted) from its stats.json."""
    if folder is None:
        return None
    try:
        stats = json.loads((folder / layout.STATS).read_text(encoding="utf-8"))
        return {"input_rows": int(stats["input_rows"]), "accepted": int(stats["accepted"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
