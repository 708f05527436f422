"""A generation run: problems → prompts → teacher → trace rows → shards.

Read top to bottom, `main` is the whole data flow. Everything that can be
wrong with the input is checked before the run directory is touched; after
that, rows are written as they complete and the run can be killed at any
moment and resumed by running the same command again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from factory.core import manifest as manifest_io
from factory.core import outdir
from factory.core.errors import InputError, RuntimeFailure
from factory.core.naming import public_name
from factory.core.progress import Progress, fmt_duration
from factory.core.problems import FieldMap, ProblemSet, load_problems
from factory.core.prompts import load_templates, load_tokenizer, render_prompt
from factory.core.shards import ShardWriter, read_columns, shard_paths
from factory.core.traces import TRACE_COLUMNS, trace_schema
from generators import tune as tuning
from generators.backend import BACKENDS, TeacherBackend, make_backend
from generators.engine import on_gpu
from generators.config import GenerateConfig
from generators.farm import redact
from generators.general import GENERAL, Prompter, TeacherTurn
from generators.sampling import Request, SamplingSpec, derive_seed
from generators.traces import make_row

TRACES_DIR = "traces"


@dataclass
class RunSummary:
    out: Path
    expected: int                    # (problem, sample) pairs asked for
    already_done: int                # found on disk at start
    generated: int                   # written by this invocation
    rows: int                        # rows on disk now
    shards: int
    missing: int = 0                 # pairs asked for and not on disk
    finish_reasons: dict = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    backend_stats: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)     # the run's, over every invocation (manifest `cost`)

    def table(self) -> str:
        lines = [
            f"run directory      {self.out}",
            f"pairs asked for    {self.expected:,}",
            f"already on disk    {self.already_done:,}",
            f"generated now      {self.generated:,}",
            f"rows on disk       {self.rows:,} in {self.shards} shard(s)",
            "finish reasons     " + (", ".join(f"{k}: {v:,}" for k, v in sorted(self.finish_reasons.items())) or "-"),
            f"prompt tokens      {self.prompt_tokens:,}",
            f"completion tokens  {self.completion_tokens:,}",
            f"wall time          {fmt_duration(self.wall_seconds)}",
        ]
        spent = self.cost.get("device_seconds") or {}
        if spent:
            lines.append("device time        " + ", ".join(f"{secs / 3600:,.3f} {kind}-hours" for kind, secs in
                                                            sorted(spent.items())) + " (every invocation of the run)")
        if self.backend_stats:
            lines.append(f"backend            {self.backend_stats}")
        return "\n".join(lines)


def dry_run(config: GenerateConfig, problems: ProblemSet, done: set, prompter: Prompter) -> str:
    """The resolved plan: what is pending and what would run it (the backend's own lines);
    starts and writes nothing."""
    wanted = {(p["problem_id"], s) for p in problems.rows for s in range(config.samples)}
    pending = len(wanted - done)
    lines = [f"run directory      {config.out}",
             f"problems           {len(problems):,} x {config.samples} samples = {len(wanted):,} pairs; "
             f"{len(wanted) - pending:,} on disk, {pending:,} to generate",
             f"sampling           temperature {config.temperature}, top-p {config.top_p}, "
             f"max {config.max_tokens:,} new tokens, run seed {config.seed}"]
    general = [p for p in problems.rows if p["domain"] == GENERAL]
    if general:
        none = sum(prompter.no_cot_rule(p) is not None for p in general)
        lines.append(f"general rows       {len(general):,} ({config.general_mode}): {len(general) - none:,} with a chain "
                     f"of thought by prompting, {none:,} without (simple queries)")
    lines += BACKENDS[config.backend].plan(config, pending)
    lines.append(f"teacher            {public_name(config.teacher)}")
    return "\n".join(lines)


def done_keys(traces_dir: Path) -> set[tuple[str, int]]:
    table = read_columns(traces_dir, ["problem_id", "sample"])
    if table is None:
        return set()
    return set(zip(table.column("problem_id").to_pylist(), table.column("sample").to_pylist()))


def pending_requests(problems: ProblemSet, samples: int, done: set, prompter: Prompter,
                     tokenizer, run_seed: int) -> Iterator[tuple[Request, dict, TeacherTurn]]:
    """(request, problem row, the teacher's turn) for every pair not yet on disk.

    Lazy: prompts are rendered and tokenised as the backend asks for work,
    and a problem's samples are adjacent so the engine's prefix cache hits.
    """
    for problem in problems.rows:
        todo = [s for s in range(samples) if (problem["problem_id"], s) not in done]
        if not todo:
            continue
        turn = prompter.turn(problem)
        text = render_prompt(tokenizer, turn.user, turn.history, turn.think)
        ids = tokenizer.encode(text, add_special_tokens=False)
        for s in todo:
            yield Request(problem_id=problem["problem_id"], sample=s, prompt_text=text, prompt_token_ids=ids,
                          seed=derive_seed(run_seed, problem["problem_id"], s)), problem, turn


def _config_record(config: GenerateConfig) -> dict:
    record = dataclasses.asdict(config)
    record["out"] = str(config.out)
    record["templates"] = str(config.templates) if config.templates else None
    record["endpoints"] = [redact(u) for u in config.endpoints]
    return record


class _Terminate(BaseException):
    pass


def _inputs(config: GenerateConfig, limit: int | None) -> tuple[ProblemSet, dict, Prompter, Any]:
    """The problems (the first `limit`), their templates, the prompter and the teacher's tokenizer."""
    problems = load_problems(config.problems, fields=FieldMap(config.problem_field, config.answer_field,
                                                              config.id_field),
                             reserved=TRACE_COLUMNS, limit=limit, split=config.split, subset=config.subset)
    templates = load_templates({p["domain"] for p in problems.rows}, config.templates)
    return problems, templates, Prompter(templates, config), load_tokenizer(config.tokenizer or config.teacher)


def tune_engine(config: GenerateConfig) -> dict:
    """--tune (generators/tune.py): the trials on the first --tune-problems problems, at the run's
    sampling settings, each in a fresh engine; OUT/trials.json and OUT/engine-args.json."""
    problems, _, prompter, tokenizer = _inputs(config, config.tune_problems)
    requests = [req for req, _, _ in pending_requests(problems, config.samples, set(), prompter, tokenizer,
                                                      config.seed)]
    spec = SamplingSpec(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens)
    with outdir.claim(config.out, "tune", inputs={"--problems": config.problems}) as claim:
        claim.check()
        report = tuning.tune(config, tuning.fresh_engine_measure(config, requests, spec, make_backend), gpu=on_gpu())
        claim.make()   # only now: an engine that cannot start on the flags given leaves nothing behind
        tuning.write(config.out, report)
    return report


def _raise_terminate(signum, frame):
    raise _Terminate()


def main(config: GenerateConfig, backend: TeacherBackend | None = None) -> RunSummary | None:
    """Run (or resume) generation. `backend` may be passed in to share an
    engine (tests, benchmarks); otherwise one is built from `config`. With
    `config.dry_run`, print the plan and return None."""
    t0 = time.monotonic()
    # 1. Everything that can be wrong with the input, before touching disk.
    problems, templates, prompter, tokenizer = _inputs(config, config.limit)
    identity = {**config.identity(), "teacher": public_name(config.teacher),
                "templates": {d: t.sha256 for d, t in templates.items()},
                "chat_template_sha256": hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest()}
    if GENERAL in templates:  # only then: an earlier run of reasoning problems keeps its identity
        identity["general"] = config.general_identity()
    out = config.out
    if config.dry_run and not out.exists():  # nothing to read, nothing to lock: a dry run writes nothing
        print(dry_run(config, problems, set(), prompter))
        return None
    # 2. The run folder: locked before it is read, so a second process is turned away at once
    # and the settings checked are the ones on disk.
    with outdir.claim(out, "generate", inputs={"--problems": config.problems, "--templates": config.templates}
                      ) as claim:
        claim.check()
        old = _existing_run(out, identity)
        if config.dry_run:
            print(dry_run(config, problems, done_keys(out / TRACES_DIR) if old else set(), prompter))
            return None
        owned = backend is None
        try:
            if owned:
                backend = make_backend(config)
            check_prompts_fit(problems, prompter, tokenizer, backend.context_length)
            claim.make()  # the run folder exists from here on, once the teacher is up
            return _run(config, backend, problems, prompter, tokenizer, identity, old, t0)
        except OSError as e:  # a full or failing disk: the finished shards stay, no half one does
            raise RuntimeFailure(f"writing {out} stopped: {outdir.os_error_line(e)}; the shards already "
                                 "written are kept; rerun the same command once fixed") from None
        finally:
            if owned and backend is not None:
                backend.close()


def _existing_run(out: Path, identity: dict) -> dict | None:
    """The manifest of the run already in `out` (None for a new one), checked against `identity`."""
    old = manifest_io.load(out) if out.exists() else None
    if old is None and shard_paths(out / TRACES_DIR):
        raise InputError(f"{out}: holds trace shards but no manifest.json; choose another --out")
    manifest_io.check_identity(out, old, identity)
    return old


def check_prompts_fit(problems: ProblemSet, prompter: Prompter, tokenizer, context_length: int | None) -> None:
    """InputError naming the first problem whose prompt does not fit the teacher's context, before
    the run folder exists. A prompt has at most as many tokens as UTF-8 bytes (byte-level tokenizers,
    and byte fallback), so only prompts at least `context_length` bytes long are tokenised."""
    if context_length is None:
        return
    overhead = len(render_prompt(tokenizer, "").encode())
    for problem in problems.rows:
        turn = prompter.turn(problem)
        earlier = sum(len(t["content"].encode()) + 16 for t in turn.history or [])
        if len(turn.user.encode()) + earlier + overhead < context_length:
            continue
        n = len(tokenizer.encode(render_prompt(tokenizer, turn.user, turn.history, turn.think),
                                 add_special_tokens=False))
        if n >= context_length:
            raise InputError(f"problem {problem['problem_id']!r} ({problems.source}): its prompt is {n:,} tokens, "
                             f"the teacher's context is {context_length:,}; drop the problem or raise "
                             "--max-model-len")


def _run(config: GenerateConfig, backend: TeacherBackend, problems: ProblemSet,
         prompter: Prompter, tokenizer, identity: dict, old: dict | None, t0: float) -> RunSummary:
    run = _Run(config, backend, problems, prompter, tokenizer)
    # 2. See what is already done and record this invocation.
    run.start(identity, old, t0)
    # 3. Generate; every completion becomes a row, rows become shards.
    generated = run.generate()
    # 4. Count what is on disk and close the run.
    return run.finish(generated, t0)


class _Run:
    """The writing part of `main`, for a run directory that is checked and
    locked: one invocation's entry in the manifest, its rows, its summary.

    The manifest says "running" from `start` on, "interrupted" if `generate`
    stops part-way (rows written so far are kept), and "complete" or
    "incomplete" after `finish`.
    """

    def __init__(self, config: GenerateConfig, backend: TeacherBackend, problems: ProblemSet,
                 prompter: Prompter, tokenizer):
        self.config, self.backend, self.problems = config, backend, problems
        self.prompter, self.templates, self.tokenizer = prompter, prompter.templates, tokenizer
        self.out = config.out
        self.traces_dir = self.out / TRACES_DIR
        # (problem_id, sample) → (problem row, the teacher's turn) for requests handed
        # to the backend and not yet written.
        self.context: dict[tuple[str, int], tuple[dict, TeacherTurn]] = {}

    def start(self, identity: dict, old: dict | None, t0: float) -> None:
        config, problems = self.config, self.problems
        self.t0 = t0   # the invocation's clock: the teacher's start counts, it held the devices too
        self.teacher_name = identity["teacher"]   # rows name a local teacher as the identity does, not by path
        self.done = done_keys(self.traces_dir)
        self.expected = len(problems) * config.samples
        self.wanted = {(p["problem_id"], s) for p in problems.rows for s in range(config.samples)}
        self.already = len(self.done & self.wanted)
        self.manifest = old or {"format": manifest_io.FORMAT, "created": manifest_io.now_iso(), "runs": []}
        self.manifest.update(
            status="running", identity=identity, config=_config_record(config), backend=self.backend.describe(),
            templates={d: {"path": t.path, "sha256": t.sha256, "text": t.text} for d, t in self.templates.items()},
            versions=manifest_io.package_versions(),
            problems={"source": public_name(config.problems), "count": len(problems), "samples": config.samples,
                      "expected_pairs": self.expected})
        # What came before the first request (reading the problems, the teacher's start): a fixed cost
        # a pilot should not spread over the big run's traces (generators/pilot.py).
        self.invocation = {"started": manifest_io.now_iso(), "on_disk_at_start": self.already,
                           "startup_seconds": round(time.monotonic() - t0, 3)}
        self.manifest["runs"].append(self.invocation)
        manifest_io.write(self.out, self.manifest)

    def requests(self) -> Iterator[Request]:
        """The pending requests, remembering each one's problem and prompt
        in `context` for when its completion comes back."""
        for req, problem, turn in pending_requests(self.problems, self.config.samples, self.done, self.prompter,
                                                   self.tokenizer, self.config.seed):
            self.context[req.key] = (problem, turn)
            yield req

    def generate(self) -> int:
        """Write a row per completion; the number written. On any exception,
        SIGTERM included (raised as KeyboardInterrupt), the rows so far are
        flushed and the manifest marked interrupted before it propagates."""
        config = self.config
        spec = SamplingSpec(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens)
        writer = ShardWriter(self.traces_dir, trace_schema(self.problems.extra_schema), max_rows=config.shard_rows,
                             max_bytes=config.shard_mb << 20, flush_seconds=config.flush_seconds)
        progress = Progress(self.expected - self.already)
        previous = signal.signal(signal.SIGTERM, _raise_terminate) if _main_thread() else None
        generated = 0
        try:
            for c in self.backend.generate(self.requests(), spec):
                writer.add(self._row(c, spec))
                writer.flush_if_due()
                generated += 1
                progress.update(1, c.completion_tokens)
        except BaseException as e:
            # Still under our SIGTERM handler: the bookkeeping runs before
            # the progress line is closed and the old handler is back.
            self._stopped(writer, e)
            if isinstance(e, _Terminate):
                raise KeyboardInterrupt from None
            raise
        finally:
            progress.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        writer.close()
        self.invocation["generated"] = writer.written_rows
        return generated

    def _row(self, c, spec: SamplingSpec) -> dict:
        problem, turn = self.context.pop(c.request.key)
        return make_row(problem, turn, c.text, sample=c.request.sample, finish_reason=c.finish_reason,
                        prompt_tokens=len(c.request.prompt_token_ids),
                        completion_tokens=c.completion_tokens, teacher=self.teacher_name,
                        temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens,
                        seed=c.request.seed)

    def _stopped(self, writer: ShardWriter, e: BaseException) -> None:
        # Completed rows are whole traces: keep them even when interrupted,
        # and say in the manifest that the run stopped part-way. On a full disk
        # neither may be possible: the half shard goes, the manifest stays as it was.
        try:
            writer.close()
        except OSError:
            writer.abort()
        self.invocation.update(generated=writer.written_rows, stopped=f"{type(e).__name__}: {e}"[:500])
        self._spent()
        self.manifest["status"] = "interrupted"
        try:
            manifest_io.write(self.out, self.manifest)
        except OSError:
            pass

    def finish(self, generated: int, t0: float) -> RunSummary:
        summary = summarize(self.out, self.wanted, already=self.already, generated=generated,
                            wall=time.monotonic() - t0, backend_stats=self.backend.stats)
        self.manifest.update(
            status="complete" if summary.missing == 0 else "incomplete",
            counts={"rows": summary.rows, "shards": summary.shards, "missing_pairs": summary.missing,
                    "finish_reasons": summary.finish_reasons, "prompt_tokens": summary.prompt_tokens,
                    "completion_tokens": summary.completion_tokens})
        self.invocation.update(finished=manifest_io.now_iso())
        self._spent()
        self.manifest["shards"] = shard_tokens(self.traces_dir)
        manifest_io.write(self.out, self.manifest)
        summary.cost = self.manifest["cost"]
        return summary

    def _spent(self) -> None:
        """This invocation's wall time and device-seconds (its teacher's devices x the wall time), and
        the run's cost over every invocation, interrupted ones included (their devices were held)."""
        wall = time.monotonic() - self.t0
        self.invocation["wall_seconds"] = round(wall, 3)
        devices = self.manifest["backend"].get("devices")
        if devices:
            self.invocation.update(devices=devices, device_seconds=round(wall * devices["count"], 3))
        self.manifest["cost"] = manifest_io.run_cost(self.manifest)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def shard_tokens(traces_dir: Path) -> dict[str, dict]:
    """Rows, prompt and completion tokens of every shard, by file name (the manifest's `shards`)."""
    import pyarrow.parquet as pq

    out = {}
    for path in shard_paths(traces_dir):
        table = pq.read_table(path, columns=["prompt_tokens", "completion_tokens"])
        out[path.name] = {"rows": table.num_rows,
                          **{c: int(sum(v or 0 for v in table.column(c).to_pylist())) for c in table.column_names}}
    return out


def summarize(out: Path, wanted: set[tuple[str, int]], *, already: int, generated: int, wall: float,
              backend_stats: dict) -> RunSummary:
    """Counts of what is on disk, read once from the shards' small columns."""
    traces_dir = out / TRACES_DIR
    table = read_columns(traces_dir, ["problem_id", "sample", "finish_reason", "prompt_tokens",
                                      "completion_tokens"])
    summary = RunSummary(out=out, expected=len(wanted), already_done=already, generated=generated,
                         rows=0 if table is None else table.num_rows, shards=len(shard_paths(traces_dir)),
                         missing=len(wanted), wall_seconds=wall, backend_stats=backend_stats)
    if table is not None:
        on_disk = set(zip(table.column("problem_id").to_pylist(), table.column("sample").to_pylist()))
        summary.missing = len(wanted - on_disk)
        summary.finish_reasons = dict(Counter(table.column("finish_reason").to_pylist()))
        summary.prompt_tokens = int(sum(v or 0 for v in table.column("prompt_tokens").to_pylist()))
        summary.completion_tokens = int(sum(v or 0 for v in table.column("completion_tokens").to_pylist()))
    return summary
