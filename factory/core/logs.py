"""Quiet runs: the libraries' chatter goes to a log file, the factory's own lines stay on screen.

A verb calls `route(log_file, verbose)` once, after parsing. Unless `--verbose`:

- every Python logger (vLLM's, transformers', TRL's, datasets', math-verify's) and
  Python warnings go to `log_file` at INFO, and only ERROR and above also reach the
  screen: a real problem is still seen, "non-default args" and per-weight notes are not;
- `captured()` sends what libraries write straight to the terminal (tqdm bars while a
  model loads, C++ kernel notes) to the same file, around the noisy phases only
  (engine start and stop, model loading), so progress lines and tables are untouched.

With `--verbose` nothing is rerouted: the libraries print as they always do. Library
use (tests, notebooks) never calls `route`, so nothing is rerouted there either.

The log file is created on the first line written to it, and `discard()` (called when a
verb exits 2 on bad input) removes it, and the folders made for it, when they hold nothing
else: bad input still leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

_LOG_FILE: Path | None = None
_CREATED: Path | None = None  # the outermost path the log would create (OUT, OUT/logs or the file)
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def route(log_file: Path, verbose: bool = False) -> Path | None:
    """Send library logging to `log_file` (and ERROR+ to stderr); returns the file, or None
    when `verbose` leaves everything on screen."""
    global _LOG_FILE, _CREATED
    if verbose:
        return None
    log_file = Path(log_file)
    _CREATED = next((p for p in reversed([log_file, *log_file.parents]) if not p.exists()), None)
    os.environ["VLLM_CONFIGURE_LOGGING"] = "0"       # vLLM's loggers propagate here instead
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    root = _drop_handlers()
    to_file = _LazyFile(log_file)
    to_file.setFormatter(logging.Formatter(_FORMAT))
    # The screen handler keeps its own copy of stderr, so an error logged while
    # `captured()` has file descriptor 2 on the log file still reaches the screen.
    to_screen = logging.StreamHandler(os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8",
                                                errors="replace", closefd=True))
    to_screen.setLevel(logging.ERROR)
    to_screen.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    for h in (to_file, to_screen):
        h._factory = True
        root.addHandler(h)
    root.setLevel(logging.INFO)
    _own_library_loggers()
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    _LOG_FILE = log_file
    return log_file


def _drop_handlers() -> logging.Logger:
    """Remove (and close) the handlers an earlier `route` gave the root logger; returns it."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_factory", False):
            root.removeHandler(h)
            h.close()
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.stream.close()  # the screen handler's own copy of stderr (see `route`)
    return root


class _LazyFile(logging.FileHandler):
    """A file handler that makes its folder, and the file, only when a record arrives; remembers
    whether it created the file (only then may `discard` remove it); and, when the file cannot be
    written (a read-only or full disk), says so once and drops records instead of printing a
    traceback per record."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8", delay=True)
        self.created = self.failed = False

    def _open(self):
        path = Path(self.baseFilename)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.created = self.created or not path.exists()
        return super()._open()

    def emit(self, record):
        if self.failed:
            return
        if self.stream is None:
            try:
                self.stream = self._open()
            except OSError as e:
                self.failed = True
                print(f"warning: cannot write the log file {self.baseFilename} ({e.strerror}); library logs "
                      "are not kept", file=sys.stderr, flush=True)
                return
        super().emit(record)


def _file_handler() -> _LazyFile | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, _LazyFile)), None)


def discard() -> None:
    """Remove the log, when this process created it, and the folders made for it, when they hold
    nothing else: bad input leaves nothing behind (another process's log is never removed)."""
    global _LOG_FILE
    import shutil

    handler = _file_handler()
    ours = handler is not None and handler.created
    _drop_handlers()
    created, log = _CREATED, _LOG_FILE
    _LOG_FILE = None
    if created is None or log is None or not created.exists():
        return
    if created == log:
        if ours:
            created.unlink()
    elif all((p == log and ours) or p.is_dir() for p in created.rglob("*")):
        shutil.rmtree(created)


def _own_library_loggers() -> None:
    """Loggers that libraries gave their own screen handler (and no propagation) hand their
    records to the root logger instead: vLLM when imported before `route`, transformers."""
    for name in ("vllm", "transformers", "datasets", "trl", "huggingface_hub", "accelerate"):
        logger = logging.getLogger(name)
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logger.propagate = True
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()
        hf_logging.enable_propagation()
    except ImportError:
        pass


def log_file() -> Path | None:
    """Where the chatter goes in this process; None when it is on screen."""
    return _LOG_FILE


@contextlib.contextmanager
def captured():
    """Around a noisy phase: file descriptors 1 and 2 write to the log file (a no-op when
    nothing is routed). A failure inside is re-raised after the screen is back."""
    if _LOG_FILE is None:
        yield
        return
    _own_library_loggers()  # a library imported since `route` may have added its own handler
    handler = _file_handler()
    try:
        if handler is not None and handler.stream is None and not handler.failed:
            handler.stream = handler._open()  # so the file handler knows it created the file
        sink = open(_LOG_FILE, "ab")
    except OSError:  # the log cannot be written (read-only, full): leave the screen as it is
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
