"""The referee step: the rows the rules left to the judge get its verdict, and the policy decides.

It runs in the caller's process, where the judge's teacher lives, on batches whose rule verdicts
are settled and before the grouped step (a row the judge keeps must meet the group filters). The
rows it takes are those `JudgeSpec.wants` (per `when`) among rows still in; each distinct prompt
is asked once: first the verdict cache, then the teacher, `batch` prompts per call under
`timeout`. Every judged row records its rule verdict, the judge's and the judge's reason
(`Verdict.judged` → the `correct_rule`, `correct_judge`, `judge_reason` columns); a judge that
fails (an unreadable reply, a dead server, a timeout) costs those rows, named, never the run.
"""

from __future__ import annotations

import time
from collections import Counter

from factory.core.teacher import Request, SamplingSpec
from filters.judge import JudgeSpec, Teachers, combine, parse_verdict, render
from filters.judge_cache import JudgeCache, digest
from filters.pipeline.judge import Verdict

RULE = {"correct": True, "wrong_answer": False}


class Referee:
    """`spec`: the correctness filter's judge block (None: no judge, the step does nothing)."""

    def __init__(self, spec: JudgeSpec | None, check: str, teachers: Teachers | None):
        self.spec, self.check, self.teachers = spec, check, teachers
        self.cache: JudgeCache | None = None   # opened on first use, where the judging happens
        self.identity = spec.identity() if spec else {}
        self.judge_id = digest(self.identity)[:16]
        self.prompt = spec.prompt_text() if spec else ""
        self.backend = self.tok = None
        self.counts: Counter = Counter()
        self.seconds = 0.0
        self.last_error = ""

    @property
    def active(self) -> bool:
        return self.spec is not None

    def __call__(self, batches: list[tuple[list[dict], list[Verdict]]]) -> None:
        """Judge what these batches' rows need (together: fewer, fuller calls), in place."""
        if self.active:
            self.settle([w for rows, verdicts in batches for w in self.select(rows, verdicts)])

    def select(self, rows: list[dict], verdicts: list[Verdict]) -> list[tuple[Verdict, bool | None, str]]:
        """(verdict, the rule's verdict, the judge's prompt) of each row the judge must see: pure, so
        an executor may select where the rows are and settle where the teacher is."""
        wanted = []
        for row, v in zip(rows, verdicts):
            if v.first is not None or v.checked_by is None or v.checked_by[1] != self.check:
                continue
            has_reference = bool(row.get("answer") or row.get("_majority"))
            if self.spec.wants(v.answer, has_reference):
                rule = RULE.get(v.answer) if has_reference else None
                wanted.append((v, rule, render(self.prompt, row, self.spec.show)))
        return wanted

    def settle(self, wanted: list[tuple[Verdict, bool | None, str]]) -> None:
        """The judge's verdicts for the selected rows (cache first, then the teacher), applied."""
        if not wanted:
            return
        found = self._verdicts(list(dict.fromkeys(m for _, _, m in wanted)))
        for v, rule, message in wanted:
            correct, reason, status = found[message]
            self._apply(v, rule, correct, reason, status)

    def _apply(self, v: Verdict, rule: bool | None, judge: bool | None, reason: str, status: str) -> None:
        final = combine(rule, judge, self.spec.policy)
        c = self.counts
        c["rows"] += 1
        c[f"verdict_{judge}"] += 1
        c[status] += 1
        if rule is not None and judge is not None:
            c["both_decided"] += 1
            c["agree"] += rule == judge
        if final is True and rule is not True:
            c["flipped_to_correct"] += 1
        if final is not True and rule is True:
            c["flipped_to_rejected"] += 1
        v.judged = (rule, judge, reason)
        if final is True:
            v.answer = "correct"
        elif judge is False and rule is not False:
            v.answer = "judge_incorrect"
        elif judge is None and rule is not False:  # the judge was needed and gave no verdict: why
            v.answer = status if status in ("judge_timeout", "judge_error") else "judge_unreadable"
        # else the rule's own reason stands (wrong_answer; no_answer where rule_and_judge needs the rule too)

    def _verdicts(self, messages: list[str]) -> dict[str, tuple[bool | None, str, str]]:
        """message → (correct, reason, status): status "cached", "answered" (a readable verdict or an
        unreadable reply, both cached), "judge_timeout" or "judge_error" (not cached)."""
        if self.cache is None:
            self.cache = JudgeCache(self.spec.cache_path(), self.identity)
        keys = {m: self.cache.key(m) for m in messages}
        known = self.cache.get(list(keys.values()))
        out = {m: (known[k][0], known[k][1], "cached") for m, k in keys.items() if k in known}
        todo = [m for m in messages if m not in out]
        for i in range(0, len(todo), self.spec.batch):
            out.update(self._ask(todo[i:i + self.spec.batch], keys))
        return out

    def _ask(self, messages: list[str], keys: dict[str, str]) -> dict[str, tuple]:
        """One call to the teacher, its verdicts cached as soon as it returns."""
        t0 = time.monotonic()
        if self.backend is None:
            self.tok = self.teachers.tokenizer(self.spec.tokenizer or self.spec.model)
            self.backend = self.teachers.start(self.spec.model, self.spec.tokenizer, self.spec.teacher)
        requests, too_long = {}, {}
        limit = self.backend.context_length
        for i, m in enumerate(messages):
            text = self.tok.apply_chat_template([{"role": "user", "content": m}], tokenize=False,
                                                add_generation_prompt=True)
            ids = self.tok.encode(text, add_special_tokens=False)
            if limit is not None and len(ids) >= limit:  # this row's prompt, not the call, cannot be judged
                too_long[m] = (None, f"judge_error: a prompt of {len(ids):,} tokens does not fit the judge's "
                                     f"context of {limit:,}", "judge_error")
                continue
            self.counts["prompt_tokens"] += len(ids)
            requests[str(i)] = (m, Request(problem_id=str(i), sample=0, prompt_text=text, prompt_token_ids=ids, seed=0))
        answered, failure = {}, "judge_timeout"
        deadline = t0 + self.spec.timeout
        stream = iter(self.backend.generate([r for _, r in requests.values()], SamplingSpec(**self.spec.sampling())))
        try:
            for c in stream:
                m = requests[c.request.problem_id][0]
                correct, reason = parse_verdict(c.text)
                answered[m] = (correct, reason, c.completion_tokens)
                self.counts["completion_tokens"] += c.completion_tokens
                if time.monotonic() > deadline and len(answered) < len(messages):
                    break
        except Exception as e:  # a dead server, a failed engine: these rows say so, the run goes on
            failure = "judge_timeout" if "timeout" in f"{type(e).__name__} {e}".lower() else "judge_error"
            self.last_error = f"{type(e).__name__}: {e}"
        finally:
            stream.close()  # a call cut short stops what is still in flight
        self.cache.put({keys[m]: v for m, v in answered.items()})
        self.seconds += time.monotonic() - t0
        self.counts["asked"] += len(messages)
        return {m: too_long[m] if m in too_long else (*answered[m][:2], "answered") if m in answered else
                (None, failure + (f": {self.last_error}" if failure == "judge_error" else ""), failure)
                for m in messages}

    def stats(self) -> dict | None:
        """The judge's part of stats.json: what it saw, what it cost, what it changed."""
        if not self.active:
            return None
        c, s = self.counts, self.spec
        return {
            "model": s.model, "backend": (self.backend.describe() if self.backend else {"backend": None}),
            "when": s.when, "policy": s.policy, "show": s.show, "judge_id": self.judge_id,
            "cache": str(s.cache_path()),
            "rows": c["rows"], "cache_hits": c["cached"], "asked": c["asked"],
            "verdicts": {"correct": c["verdict_True"], "incorrect": c["verdict_False"],
                         "none": c["verdict_None"]},
            "unreadable": c["verdict_None"] - c["judge_timeout"] - c["judge_error"],
            "timeouts": c["judge_timeout"], "errors": c["judge_error"],
            "prompt_tokens": c["prompt_tokens"], "completion_tokens": c["completion_tokens"],
            "seconds": round(self.seconds, 2),
            "flipped": {"to_correct": c["flipped_to_correct"], "to_rejected": c["flipped_to_rejected"]},
            "agreement": {"both_decided": c["both_decided"], "agree": c["agree"],
                          "rate": round(c["agree"] / c["both_decided"], 4) if c["both_decided"] else None},
        }

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
        if self.cache is not None:
            self.cache.close()
