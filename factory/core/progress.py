"""A progress line with rate, tokens/s and ETA, for long jobs.

On a terminal it redraws one line; in logs (CI, nohup) it prints a line at
most every `log_every` seconds, so a 10-hour run does not flood the log.
"""

from __future__ import annotations

import sys
import time


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


class Progress:
    def __init__(self, total: int, *, unit: str = "traces", work_unit: str = "tok", work_scale: float = 1.0,
                 stream=None, tty_every: float = 0.5, log_every: float = 15.0, initial: int = 0):
        self.total = total
        self.initial = initial  # done before this run (a resumed job): not counted in the rate
        self.unit = unit
        self.work_unit, self.work_scale = work_unit, work_scale
        self.stream = stream or sys.stderr
        self.done = initial
        self.tokens = 0
        self.note = ""  # appended to the line (a training loss, say)
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = -1  # `done` at the last draw
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._every = tty_every if self._tty else log_every

    def update(self, n: int = 1, tokens: float = 0) -> None:
        """`tokens`: the secondary work measure (tokens, bytes…), in raw units."""
        self.done += n
        self.tokens += tokens
        now = time.monotonic()
        if now - self._last >= self._every or self.done >= self.total:
            self._last = now
            self._draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = (self.done - self.initial) / elapsed
        tok_rate = self.tokens * self.work_scale / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        # The first items carry the start-up, so their rate says nothing of the end yet.
        settled = self.done - self.initial >= max(2, (self.total - self.initial) // 100)
        eta = (self.total - self.done) / rate if rate > 0 and settled else float("inf")
        eta_s = fmt_duration(eta) if eta != float("inf") else "?"
        return (f"{self.unit} {self.done}/{self.total} ({pct:.1f}%) | {rate:.2f} {self.unit}/s | "
                f"{tok_rate:,.{0 if tok_rate >= 100 else 2}f} {self.work_unit}/s | elapsed {fmt_duration(elapsed)} | ETA {eta_s}"
                + (f" | {self.note}" if self.note else ""))

    def _draw(self) -> None:
        self._drawn = self.done
        if self._tty:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn != self.done:
            self._draw()
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
