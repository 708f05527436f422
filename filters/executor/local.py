"""The local executor: a pool of worker processes on this machine (pebble).

Each batch of rows is one pool task running the judge step; several batches are in flight (up to
three per worker ahead of the oldest). As soon as a batch is back, its math-verify calls become
pool tasks of their own with a hard time limit (`Verifies`): on timeout pebble kills that worker
and starts another, so the row is rejected as `verify_timeout` and the run goes on. Batches are
handed back in input order once their verdicts are settled, through the referee step (the
generative judge, here, where its teacher is); the grouped step runs here, in this process, over
the whole input in order, which is every group's order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator

from pebble import ProcessPool

from filters.executor.base import Steps
from filters.pipeline.group import decide
from filters.pipeline.judge import JudgeStep, Verdict, Verifies
from filters.pipeline.rows import Batch
from filters.source import TraceSource

_STEP: JudgeStep | None = None   # the worker process's judge step


def _start_worker(step: JudgeStep) -> None:
    """`step`: built and prepared in the main process (inherited, or pickled under spawn)."""
    global _STEP
    step.setup()
    _STEP = step


def _judge(rows: list[dict]) -> list[Verdict]:
    return _STEP(rows)


@dataclass
class _InFlight:
    table: object
    rows: list
    judged: object                 # future of _judge
    verdicts: list | None = None


class LocalExecutor:
    unit = "rows"

    def __init__(self, workers: int, batch_rows: int):
        self.workers, self.batch_rows = workers, batch_rows

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def run(self, steps: Steps, source: TraceSource) -> Iterator[Batch]:
        n = self.workers
        with ProcessPool(max_workers=n, initializer=_start_worker, initargs=(steps.judge,)) as pool:
            verifies = Verifies(pool, steps.judge.verify_timeout)
            window: deque[_InFlight] = deque()
            for table in source.batches(self.batch_rows):
                rows = steps.view(table)
                window.append(_InFlight(table, rows, pool.schedule(_judge, args=(rows,))))
                yield from _advance(window, verifies, steps, block=len(window) > 3 * n)
            while window:
                yield from _advance(window, verifies, steps, block=True)


def _back(batch: _InFlight, verifies: Verifies) -> None:
    """The workers are done with this batch: queue its math-verify calls at once."""
    batch.verdicts = batch.judged.result()
    verifies.start(batch.verdicts)


def _advance(window: deque, verifies: Verifies, steps: Steps, block: bool) -> Iterator[Batch]:
    """The batches at the head of the window whose verdicts are settled (with `block`, at least one),
    refereed together (one fuller call to a judge) and decided."""
    for b in window:  # queue verifies as soon as any batch is back from the workers
        if b.verdicts is None and b.judged.done():
            _back(b, verifies)
    if block and window[0].verdicts is None:
        _back(window[0], verifies)
    ready = []
    while window and ((window[0].verdicts is not None and verifies.ready(window[0].verdicts))
                      or (block and window[0].verdicts is not None)):
        b = window.popleft()
        for v in b.verdicts:
            v.settle_answer(verifies.verdict)
        ready.append(b)
        block = False
    steps.referee([(b.rows, b.verdicts) for b in ready])
    for b in ready:
        yield Batch(b.table, b.rows, [decide(row, v, verifies.verdict, steps.group)
                                      for row, v in zip(b.rows, b.verdicts)])
