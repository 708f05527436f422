"""Run untrusted Python programs in a local sandbox.

Layers, outermost first:
- `setpriv` drops to an unprivileged uid before anything else runs. Processes
  here run as root, and the kernel never applies RLIMIT_NPROC to root, so
  without this a fork bomb is unbounded. Each concurrent sandbox slot gets its
  own uid, so one sandbox's processes don't count against another's.
- bubblewrap (`bwrap`): read-only `/`, a private `/tmp`, a fresh working
  folder as the only writable place, new user/net/ipc/uts namespaces (no
  network), no environment but PATH and HOME (no HF_TOKEN), dies with its
  parent. No pid namespace: here its init is left a zombie under the
  machine's pid 1, which does not reap it promptly, and zombies count against
  RLIMIT_NPROC; the slot's uid can signal only its own processes anyway.
- after every run, everything still running under the slot's uid is killed
  and reaped (a program that forked and exited leaves nothing behind). The
  calling process makes itself a child subreaper so that orphans of the
  sandbox come back to it to be reaped: under a pid 1 that does not reap
  promptly they would stay as zombies, counted against the uid's process
  limit.
- rlimits: CPU seconds, address space, file size, process count, open files.
- the caller: a wall-clock limit after which the whole process group is
  killed, and a cap on captured output.

Without bwrap the program still runs as an unprivileged uid under the rlimits
and the wall-clock limit, but it can reach the network and read the host's
files: `isolation()` says so, and the filter puts it in the run's summary.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache

# Sandbox slot k runs as uid BASE_UID + k. No such users need exist; the range
# is far above any system or login uid, so the clean-up that kills everything
# of a slot's uid can only ever hit sandboxed processes.
BASE_UID = 1_000_000_000
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 8
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int = 32
    output_kb: int = 1024      # captured; writing past file_mb kills the program


@dataclass
class Result:
    status: str          # ok | timeout | memory | crash | output_limit
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    if not (shutil.which("bwrap") and shutil.which("setpriv")):
        return False
    try:
        r = subprocess.run(["setpriv", f"--reuid={BASE_UID}", f"--regid={BASE_UID}", "--clear-groups",
                            "bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                           capture_output=True, timeout=20)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def isolation() -> str:
    if bwrap_works():
        return "bubblewrap: read-only root, private /tmp, no network, unprivileged uid per slot"
    return ("WARNING: limits only (bubblewrap unavailable): programs run as an unprivileged uid under "
            "CPU/memory/process/file limits, but CAN reach the network and read world-readable host files")


def _python() -> str:
    """An interpreter the unprivileged uid can run: the system one (a pyenv or
    virtualenv under /root is not readable by it)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate):
            return candidate
    return shutil.which("python3") or "python3"


ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}


def _command(uid: int, work: str) -> list[str]:
    """Run main.py as `uid`: inside bubblewrap (read-only root, private /tmp, no network)
    where it works, else under the rlimits alone."""
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    if bwrap_works():
        return drop + ["bwrap", "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--bind", work, "/tmp/work",
                       "--chdir", "/tmp/work", "--proc", "/proc", "--dev", "/dev", "--unshare-user",
                       "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                       "--die-with-parent", "--new-session", "--clearenv",
                       *[a for k, v in ENV.items() for a in ("--setenv", k, v)],
                       _python(), "-I", "main.py"]
    return drop + [_python(), "-I", "main.py"] if shutil.which("setpriv") else [_python(), "-I", "main.py"]


def _limiter(limits: Limits):
    def limit():  # in the child, before exec
        mb = 1 << 20
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return limit


@dataclass
class _Ran:
    rc: int | None
    timed_out: bool
    seconds: float
    out: bytes        # stdout, up to the output cap + 1 byte (so an overflow shows)
    err: bytes        # the last 4 KB of stderr


def _execute(cmd: list[str], work: str, stdin: str, limits: Limits, uid: int) -> _Ran:
    """Run `cmd` under `limits` with `stdin`; what came out.

    stdin/stdout/stderr are files outside the sandbox folder: output is bounded by
    RLIMIT_FSIZE (the kernel stops a stdout flood at once), and nothing the program
    writes to them can be replaced by it."""
    io_dir = tempfile.mkdtemp(prefix="factory-sandbox-io-")
    try:
        paths = {k: os.path.join(io_dir, k) for k in ("stdin", "stdout", "stderr")}
        with open(paths["stdin"], "w", encoding="utf-8") as f:
            f.write(stdin)
        t0 = time.monotonic()
        timed_out = False
        with open(paths["stdin"], "rb") as fin, open(paths["stdout"], "wb") as fout, \
                open(paths["stderr"], "wb") as ferr:
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=work, env=ENV,
                                    preexec_fn=_limiter(limits), start_new_session=True)
            try:
                proc.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                _kill(proc)
                proc.wait()
                timed_out = True
            finally:
                _clean_up(uid)
        seconds = time.monotonic() - t0
        with open(paths["stdout"], "rb") as f:
            out = f.read(limits.output_kb * 1024 + 1)
        with open(paths["stderr"], "rb") as f:
            f.seek(max(0, os.path.getsize(paths["stderr"]) - 4096))
            err = f.read()
        return _Ran(proc.returncode, timed_out, seconds, out, err)
    finally:
        shutil.rmtree(io_dir, ignore_errors=True)


def _status(rc: int | None, out: bytes, cap: int, stderr: str) -> str:
    # Killed by a signal: -N from Python, or 128+N passed on by bwrap.
    sig = -rc if rc is not None and rc < 0 else rc - 128 if rc is not None and rc > 128 else None
    if sig == signal.SIGXFSZ or len(out) > cap:
        return "output_limit"
    if rc == 0:
        return "ok"
    if "MemoryError" in stderr:
        return "memory"
    if sig in (signal.SIGXCPU, signal.SIGKILL):
        return "timeout"
    return "crash"


def run_program(code: str, stdin: str = "", limits: Limits = Limits(), slot: int = 0) -> Result:
    uid = BASE_UID + slot
    _become_subreaper()
    work = tempfile.mkdtemp(prefix="factory-sandbox-")
    try:
        os.chmod(work, 0o777)
        with open(os.path.join(work, "main.py"), "w", encoding="utf-8") as f:
            f.write(code)
        os.chmod(os.path.join(work, "main.py"), 0o644)
        ran = _execute(_command(uid, work), work, stdin, limits, uid)
        cap = limits.output_kb * 1024
        stdout, stderr = ran.out[:cap].decode("utf-8", "replace"), ran.err.decode("utf-8", "replace")
        status = "timeout" if ran.timed_out else _status(ran.rc, ran.out, cap, stderr)
        return Result(status, stdout, stderr, ran.rc, ran.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@lru_cache(maxsize=1)
def _become_subreaper() -> bool:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _uid_processes(uid: int) -> list[tuple[int, str, int]]:
    """(pid, state, ppid) of every process of `uid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid:
            found.append((int(name), fields["State"].split()[0], int(fields["PPid"])))
    return found


def _clean_up(uid: int) -> None:
    """Kill what the run left behind under its uid, and reap what came back to us."""
    _kill_uid(uid)
    deadline = time.monotonic() + 2.0
    me = os.getpid()
    while True:
        left = _uid_processes(uid)
        for pid, state, ppid in left:
            if state == "Z" and ppid == me:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        if not [p for p in left if p[1] != "Z" or p[2] == me] or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def _kill_uid(uid: int) -> None:
    """Kill every process of the slot's uid (what a run forked and left behind)."""
    if os.getuid() != 0:
        return
    pid = os.fork()
    if pid == 0:  # only async-signal-safe calls here
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)  # all processes this uid may signal, i.e. its own
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _kill(proc: subprocess.Popen) -> None:
    """The whole process group: bwrap, the program and anything it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
