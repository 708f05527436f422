"""Output folders: a verb writes only where it may, never two at once, and leaves nothing half-made.

Every verb that writes a folder (generate's run, the filter's output, the staged Hub repo,
evaluate's results, a student's checkpoints) holds a `Claim` on it while it works:

1. **Apart from the inputs.** `--out` equal to, inside or around an input is refused (exit 2):
   a verb that replaces its output must never reach what it reads.
2. **One lock per output folder**, the file `OUT.lock` beside it, taken before anything in OUT is
   read. A second verb on the same folder (the same verb or another) is refused at once, and told
   who holds it. It is an flock, which the kernel drops when its process dies (kill -9 included),
   so a crash never leaves a folder locked; the file is removed on release.
3. **Ownership.** OUT is new, empty, or made by this verb: it carries the verb's marker
   (`OUT/.r1-factory`, written first when the verb makes the folder), or, made before markers
   existed, holds only what the verb writes and its record file. Another verb's folder, or one
   holding anything else, is refused; `replacing` also refuses a folder of this verb that holds
   entries the verb did not write, before anything is replaced.
4. **Bad input leaves nothing.** When the work inside the claim raises InputError (exit 2), the
   folders the claim made (OUT, its parents) are removed again, if they hold only what it wrote.

OS errors while claiming (read-only file system, no permission, no space) become one line naming
the path (InputError: nothing has started).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from factory.core import layout, logs
from factory.core.errors import InputError, first_line
from factory.core.shards import atomic_write_json

MARKER = ".r1-factory"


@dataclass(frozen=True)
class Kind:
    """What one verb writes at the top of its output folder."""

    verb: str
    entries: frozenset[str]        # names the verb writes at the top (besides its marker)
    record: str                    # the file every finished or running folder of this verb has


KINDS = {k.verb: k for k in (
    # `.lock`: where generate kept its lock before OUT.lock (a run made then still resumes)
    Kind("generate", frozenset({layout.MANIFEST, layout.TRACES, "logs", ".lock"}), layout.MANIFEST),
    Kind("filter", frozenset({layout.ACCEPTED, layout.REJECTED, layout.STATS, layout.PROBLEMS, layout.FUNNEL}),
         layout.STATS),
    Kind("publish", frozenset({"README.md", "data", "rejected", "images", "factory_schema.json",
                               "factory_publish.json"}), "factory_publish.json"),
    Kind("evaluate", frozenset({"samples", "graded", "results.json", "results.md", "logs"}), "samples"),
    Kind("tune", frozenset({"trials.json", "engine-args.json", "logs"}), "trials.json"),   # generate --tune
    # data: the mixture a student trains on (--data mixture.yaml), built there (students/mixture.py)
    Kind("train_student", frozenset({"checkpoints", "model", "logs", "data"}), "checkpoints"),
    Kind("mixture", frozenset({layout.MIXTURE, layout.MIXTURE_ROWS, layout.TRAIN, layout.TEST, layout.SOURCES}),
         layout.MIXTURE),
)}
_ALWAYS = frozenset({MARKER})


def os_error_line(e: OSError, doing: str = "") -> str:
    """One line for an OS error: what failed, on which path, and the system's reason."""
    where = getattr(e, "filename", None)
    reason = e.strerror or first_line(e)
    return " ".join(part for part in (doing, f"{where}:" if where else "", reason) if part)


# -- 1. apart from the inputs ---------------------------------------------------------------------

def _local(spec) -> Path | None:
    if spec is None or spec == "":
        return None
    path = Path(spec)
    return path.resolve() if path.exists() else None


def check_apart(out: Path, inputs: dict[str, object], *, flag: str = "--out", derived: tuple = ()) -> None:
    """Refuse `out` (or a folder derived from it, such as OUT.partial) equal to, inside, or holding a
    local input; `inputs` maps each input's flag to its value (a Hub id or None is skipped)."""
    targets = [(flag, Path(out))] + [(f"{flag} (its {Path(d).name})", Path(d)) for d in derived]
    for name, spec in inputs.items():
        inp = _local(spec)
        if inp is None:
            continue
        for label, target in targets:
            t = target.resolve()
            if t == inp:
                raise InputError(f"{label} {target} is the input given as {name}; write to another folder")
            if inp in t.parents:
                raise InputError(f"{label} {target} is inside the input {name} {spec}; write outside it")
            if t in inp.parents:
                raise InputError(f"{label} {target} holds the input {name} {spec}; write to another folder")


# -- 2. the lock ------------------------------------------------------------------------------------

def lock_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".lock")


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (f"factory.{info['verb']} (pid {info['pid']} on {info['host']}, since {info['since']})")
    except (OSError, ValueError, KeyError):
        return "another process"


def _acquire(path: Path, out: Path, verb: str) -> int:
    """flock `path` without waiting; retried when the file was replaced between open and lock (a holder
    removes it on release), so two processes never both hold a lock on the same name."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(f"{out} is in use by {holder}; wait for it to finish, or choose another "
                             "output folder") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            info = {"verb": verb, "pid": os.getpid(), "host": socket.gethostname(),
                    "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            return fd
        os.close(fd)


# -- 3. ownership -----------------------------------------------------------------------------------

def marker_verb(folder: Path) -> str | None:
    """The verb whose marker `folder` carries, or None."""
    try:
        return json.loads((Path(folder) / MARKER).read_text()).get("verb")
    except (OSError, ValueError, AttributeError):
        return None


def owner_problem(folder: Path, verb: str, *, replacing: bool = False) -> str | None:
    """Why `verb` may not use (or, `replacing`, replace) `folder`; None when it may: the folder is
    missing or empty, carries the verb's marker, or was made by the verb before markers existed."""
    folder, kind = Path(folder), KINDS[verb]
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.exists() else []
    # Empty, or only the verb's log folder: a verb's log is opened (factory/core/logs.py) before its claim.
    if {e.rstrip("/") for e in entries} <= ({"logs"} & kind.entries):
        return None
    other = marker_verb(folder)
    foreign = [e for e in entries if e.rstrip("/") not in kind.entries | _ALWAYS]
    if other is None:
        if foreign or not (folder / kind.record).exists():
            shown = foreign or entries
            return (f"{folder} is not empty and was not made by factory.{verb} ({', '.join(shown[:5])}"
                    f"{' …' if len(shown) > 5 else ''}); choose a new or empty folder")
        return None
    if other != verb:
        return f"{folder} holds the output of factory.{other}; choose another folder"
    if replacing and foreign:
        return (f"{folder} holds files factory.{verb} did not write ({', '.join(foreign[:5])}"
                f"{' …' if len(foreign) > 5 else ''}); move them out first, or choose another folder")
    return None


# -- the claim --------------------------------------------------------------------------------------

@dataclass
class Claim:
    """A verb's hold on its output folder (see the module docstring); made by `claim`."""

    out: Path
    verb: str
    lock: Path
    fd: int
    made: list[Path] = field(default_factory=list)     # folders this claim created, outermost first
    marked: list[Path] = field(default_factory=list)   # existing folders it put its marker in

    def check(self, folder: Path | None = None, *, replacing: bool = False) -> None:
        """InputError unless this verb may use (or replace) `folder` (default: OUT)."""
        problem = owner_problem(folder or self.out, self.verb, replacing=replacing)
        if problem:
            raise InputError(problem)

    def make(self, folder: Path | None = None) -> Path:
        """Create `folder` (default: OUT) with this verb's marker, remembering what was created; a
        folder that exists gets the marker (adopted) if it lacks one."""
        folder = self.mkdirs(folder or self.out)
        if marker_verb(folder) is None:
            if folder not in self.made:
                self.marked.append(folder)
            mark(folder, self.verb)
        return folder

    def mkdirs(self, folder: Path) -> Path:
        """`mkdir -p`, remembering each folder it created."""
        folder = Path(folder)
        for p in reversed([folder, *folder.parents]):
            if not p.exists():
                try:
                    p.mkdir()
                except FileExistsError:
                    continue
                self.made.append(p)
        return folder

    def remove(self, folder: Path) -> None:
        """Delete a folder this verb owns (its marker proves it), e.g. a stale OUT.partial."""
        folder = Path(folder)
        if not folder.exists():
            return
        self.check(folder, replacing=True)
        shutil.rmtree(folder)

    def clear(self, folder: Path | None = None) -> Path:
        """Empty a folder this verb owns for a fresh write (checked as `replacing`), keeping its marker."""
        folder = Path(folder or self.out)
        self.check(folder, replacing=True)
        self.make(folder)
        for p in folder.iterdir():
            if p.name == MARKER:
                continue
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        return folder

    def undo(self, folder: Path) -> None:
        """Take back a failed write into `folder`, a folder this verb owns: removed when this claim made
        it, else emptied (and unmarked, when this claim marked it)."""
        folder = Path(folder)
        if not folder.exists():
            return
        if folder in self.made:
            shutil.rmtree(folder)
            self.made.remove(folder)
            return
        self.clear(folder)
        if folder in self.marked:
            (folder / MARKER).unlink()
            self.marked.remove(folder)

    def abandon(self) -> None:
        """Undo what the claim created (bad input): its folders, innermost first, when they hold only
        markers, this claim's lock file, this run's log and empty folders; the marker it put in an
        existing folder."""
        for p in self.marked:
            with contextlib.suppress(FileNotFoundError):
                (p / MARKER).unlink()
        log = logs.log_file()
        for p in reversed(self.made):
            if p.exists() and all(q.name == MARKER or q in (self.lock, log) or q.is_dir() for q in p.rglob("*")):
                shutil.rmtree(p, ignore_errors=True)
        self.made.clear()
        self.marked.clear()

    def swap(self, partial: Path, old: Path) -> None:
        """`partial` (written whole) becomes OUT. An OUT there before (checked as `replacing` by the caller)
        is moved to `old` first and removed last, so a crash leaves OUT whole, or OUT.partial and OUT.old
        that the next run removes (`remove`); an empty OUT is replaced the same way."""
        if not self.out.exists():
            Path(partial).rename(self.out)
            return
        self.out.rename(old)
        Path(partial).rename(self.out)
        shutil.rmtree(old)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.lock)
        os.close(self.fd)
        self.fd = -1


def mark(folder: Path, verb: str) -> None:
    atomic_write_json(Path(folder) / MARKER, {"verb": verb, "made_by": "r1-factory",
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


@contextlib.contextmanager
def claim(out: Path, verb: str, *, inputs: dict[str, object] | None = None, derived: tuple = (),
          flag: str = "--out"):
    """Hold `out` for `verb` (see the module docstring): checked apart from `inputs`, its parent made,
    its lock taken. Yields the Claim; on InputError inside, what the claim made is removed again."""
    out = Path(out)
    check_apart(out, inputs or {}, flag=flag, derived=derived)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {out}: exists and is not a folder")
    c = Claim(out, verb, lock_path(out), -1)
    try:
        c.mkdirs(out.parent)
        c.fd = _acquire(c.lock, out, verb)
    except OSError as e:
        c.abandon()
        raise InputError(os_error_line(e, "cannot write the output folder:")) from None
    try:
        yield c
    except InputError:
        c.abandon()
        raise
    finally:
        c.release()

