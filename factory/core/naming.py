"""How a model or a file is named in what leaves this machine or must survive a move.

A Hub id stays a Hub id. A local path is named by its folder or file name plus a content
fingerprint (`teacher@3f2a9c01b7de`): the card, the trace rows' `teacher` column and a run's
identity never show a user's directory layout, and a run folder moved elsewhere still resumes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_WHOLE = 1 << 20   # files up to 1 MB (configs, tokenizers, templates) are hashed whole


def fingerprint(path: Path) -> str:
    """12 hex digits over every file's relative name, size and content (whole up to 1 MB; the first
    and last MB of larger ones, so a multi-GB model is named in a second, not re-read)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.relative_to(path) if f != path else f.name}\0{size}\0".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(_WHOLE))
            if size > 2 * _WHOLE:
                fh.seek(size - _WHOLE)
                h.update(fh.read(_WHOLE))
            elif size > _WHOLE:
                h.update(fh.read())
    return h.hexdigest()[:12]


def public_name(spec: str | Path | None) -> str | None:
    """`spec` as it may be published: a local path → `name@fingerprint`; anything else unchanged."""
    if spec is None:
        return None
    path = Path(spec)
    if not path.exists():
        return str(spec)
    return f"{path.resolve().name}@{fingerprint(path)}"
