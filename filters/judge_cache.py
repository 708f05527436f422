"""The judge's verdicts on disk: one SQLite file, safe to share between runs.

A verdict is keyed by the judge's identity (its model's fingerprint, prompts and sampling:
`JudgeSpec.identity`) and the content it read (problem, reference, candidate), so a rerun, a
changed filter config or another dataset with the same answers asks the model nothing again.
Each judge call's verdicts are committed together as soon as they are back: a run killed with
-9 loses at most the calls in flight. Several runs may read and write the file at once (WAL
journal, a busy timeout); a verdict is written once (INSERT OR IGNORE), so two runs that judged
the same row agree on what is kept. Only verdicts are stored (readable or not), never an error
or a timeout: those are asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from factory.core.errors import RuntimeFailure

SCHEMA = """CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,        -- sha256 of the judge's identity and the content judged
    judge TEXT NOT NULL,         -- sha256 of the judge's identity alone
    correct INTEGER,             -- 1, 0, or NULL: the reply held no readable verdict
    reason TEXT NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)"""


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class JudgeCache:
    def __init__(self, path: Path, identity: dict):
        self.path = Path(path)
        self.judge = digest(identity)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)

    def key(self, content: str) -> str:
        return hashlib.sha256(f"{self.judge}\0{content}".encode()).hexdigest()

    def get(self, keys: list[str]) -> dict[str, tuple[bool | None, str, int]]:
        """The known verdicts among `keys`: key → (correct, reason, completion tokens)."""
        found: dict[str, tuple] = {}
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            with self._failing("read"):
                rows = self.db.execute(f"SELECT key, correct, reason, completion_tokens FROM verdicts WHERE key IN "
                                       f"({','.join('?' * len(part))})", part).fetchall()
            for key, correct, reason, tokens in rows:
                found[key] = (None if correct is None else bool(correct), reason, tokens)
        return found

    def put(self, verdicts: dict[str, tuple[bool | None, str, int]]) -> None:
        """One judge call's verdicts, committed together."""
        if not verdicts:
            return
        with self._failing("write to"), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT OR IGNORE INTO verdicts (key, judge, correct, reason, completion_tokens) VALUES (?,?,?,?,?)",
                [(k, self.judge, None if c is None else int(c), r, t) for k, (c, r, t) in verdicts.items()])

    @contextmanager
    def _failing(self, what: str):
        """A full or read-only disk under the cache stops the run (exit 1), named; the verdicts
        committed so far stay, so the rerun asks only for the rest."""
        try:
            yield
        except sqlite3.Error as e:
            raise RuntimeFailure(f"cannot {what} the judge's cache {self.path}: {e}; the verdicts committed "
                                 "so far are kept; rerun once fixed") from None

    def close(self) -> None:
        self.db.close()
