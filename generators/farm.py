"""Server-farm teacher: many OpenAI-compatible endpoints (`vllm serve` on many nodes).

Requests go to `/v1/completions` as token ids (rendered and tokenised here,
exactly as the in-process engine gets them). Each endpoint has a bounded
number of requests in flight. A request that fails on a connection error,
5xx, 429 or timeout goes back to the shared queue (with backoff) and is taken
by whichever endpoint is healthy; an endpoint that fails `down_after` times in
a row is benched and probed until it answers again. So when a node dies
mid-run its work moves to the others and the run completes. Only when every
endpoint has been down for `dead_grace` seconds does the run stop (what was
written is kept; rerunning resumes).

The API key, if any, is read from the environment variable named by
`api_key_env` and never stored or printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from factory.core.errors import InputError, RuntimeFailure
from factory.core.teacher import redact
from generators.options import FarmOptions, project
from generators.sampling import Completion, Request, SamplingSpec

if TYPE_CHECKING:
    from generators.config import GenerateConfig


def normalize_endpoint(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--endpoints: {redact(url)!r} is not an http(s) URL like http://host:8000")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass
class _Endpoint:
    url: str
    up: asyncio.Event = field(default_factory=asyncio.Event)
    failures_in_row: int = 0
    served: int = 0
    failures: int = 0
    probing: bool = False


@dataclass
class _Item:
    request: Request
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


class FarmBackend:
    """Teacher served by OpenAI-compatible endpoints (a `TeacherBackend`, generators/backend.py)."""

    name = "farm"
    option_groups = (FarmOptions,)
    stats: dict[str, dict]   # retries, and answers and failures per endpoint (filled in by each run)

    @classmethod
    def from_config(cls, config: GenerateConfig) -> FarmBackend:
        """The farm, its endpoints asked which model they serve (InputError when none answers)."""
        backend = cls(config.teacher, project(config, FarmOptions))
        backend.preflight()
        return backend

    @classmethod
    def plan(cls, config: GenerateConfig, pending: int) -> list[str]:
        return [f"backend            farm: {', '.join(redact(u) for u in config.endpoints)}"]

    def __init__(self, teacher: str, options: FarmOptions):
        self.teacher = teacher
        self.options = options
        self.urls = [normalize_endpoint(u) for u in options.endpoints]
        if not self.urls:
            raise InputError("--endpoints: no endpoint given")
        if len(set(self.urls)) != len(self.urls):
            raise InputError("--endpoints: the same endpoint is listed twice")
        self.model = options.served_model
        self.reachable: list[str] = []
        self.context_lengths: dict[str, int] = {}
        self.stats: dict[str, dict] = {}

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.options.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def context_length(self) -> int | None:
        """The smallest context any endpoint reported (vLLM reports max_model_len)."""
        return min(self.context_lengths.values()) if self.context_lengths else None

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"backend": self.name, "endpoints": [redact(u) for u in self.urls], "served_model": self.model,
                "max_in_flight": self.options.max_in_flight, "request_timeout": self.options.request_timeout,
                # what each server holds is not visible from here: its cost is counted in endpoint-seconds
                "devices": {"kind": "endpoint", "count": len(self.urls)}}

    # -- before the run: which endpoints answer, and under what model name --
    def preflight(self) -> None:
        import httpx

        problems, models_seen = [], {}
        for url in self.urls:
            try:
                r = httpx.get(url + "/models", headers=self._headers(), timeout=self.options.connect_timeout)
                r.raise_for_status()
                data = r.json().get("data", [])
                models_seen[url] = [m["id"] for m in data]
                lengths = [m["max_model_len"] for m in data if isinstance(m.get("max_model_len"), int)]
                if lengths:
                    self.context_lengths[url] = min(lengths)
                self.reachable.append(url)
            except Exception as e:
                problems.append(f"  {redact(url)}: {type(e).__name__}: {e}")
        if not self.reachable:
            raise InputError("no endpoint answered GET /v1/models:\n" + "\n".join(problems)
                             + "\nstart the servers (vllm serve MODEL --port N) or fix --endpoints")
        if problems:
            print("warning: some endpoints are unreachable and will be probed during the run:\n"
                  + "\n".join(problems))
        if self.model is None:
            served = {m for ms in models_seen.values() for m in ms}
            if self.teacher in served:
                self.model = self.teacher
            elif len(served) == 1:
                self.model = served.pop()
            else:
                raise InputError(f"endpoints serve {sorted(served)}, none named {self.teacher!r}; "
                                 "pass --served-model NAME")
        for url, models in models_seen.items():
            if models and self.model not in models:
                raise InputError(f"endpoint {redact(url)} serves {models}, not {self.model!r}")

    # -- the run: an asyncio loop in a thread, completions handed to the caller --
    def generate(self, requests: Iterable[Request], spec: SamplingSpec) -> Iterator[Completion]:
        if not self.reachable:
            self.preflight()
        out: queue.Queue = queue.Queue(maxsize=4096)
        stop = threading.Event()
        done = object()
        state: dict = {}

        def runner():
            try:
                asyncio.run(self._run(requests, spec, out, stop))
            except BaseException as e:  # surfaced in the caller's thread
                state["error"] = e
            finally:
                out.put(done)

        thread = threading.Thread(target=runner, name="factory-farm", daemon=True)
        thread.start()
        try:
            while True:
                item = out.get()
                if item is done:
                    break
                yield item
        finally:
            stop.set()
            # Drain so the loop never blocks on a full queue while shutting down.
            while thread.is_alive():
                try:
                    out.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()
        if "error" in state:
            raise state["error"]

    async def _run(self, requests: Iterable[Request], spec: SamplingSpec, out: queue.Queue,
                   stop: threading.Event) -> None:
        await _Dispatch(self, requests, spec, out, stop).run()


class _Dispatch:
    """One `FarmBackend.generate` run inside its asyncio loop.

    Feeds `requests` into a shared queue, has `max_in_flight` workers per
    endpoint take from it, and puts each `Completion` on `out` as it arrives
    (completion order, not request order). A request that fails in a way
    another node may not (connection error, timeout, 5xx, 429, malformed
    answer) is put back with backoff, at most `max_attempts` times in all.
    The run ends when every request is answered, or raises the first fatal
    error: a request out of attempts, a refusal (any other non-200 status),
    a failing `requests` iterator, `stop` set by the caller, or every
    endpoint down for `dead_grace` seconds. Either way `backend.stats` is
    filled in.
    """

    def __init__(self, backend: FarmBackend, requests: Iterable[Request], spec: SamplingSpec,
                 out: queue.Queue, stop: threading.Event):
        import httpx

        self.backend, self.opts = backend, backend.options
        self.requests, self.spec, self.out, self.stop = requests, spec, out, stop
        self.endpoints = [_Endpoint(url) for url in backend.urls]
        for ep in self.endpoints:
            if ep.url in backend.reachable:
                ep.up.set()
        self.work: asyncio.Queue[_Item] = asyncio.Queue()
        # Bounds what is fed but not yet answered, so a huge input is
        # rendered and tokenised only a little ahead of the servers.
        self.slots = asyncio.Semaphore(max(1, 2 * self.opts.max_in_flight * len(self.endpoints)))
        self.finished = asyncio.Event()
        self.fed = self.done = self.retries = 0
        self.fed_all = False
        self.fatal: list[BaseException] = []
        timeout = httpx.Timeout(self.opts.request_timeout, connect=self.opts.connect_timeout)
        self.clients = {ep.url: httpx.AsyncClient(timeout=timeout, headers=backend._headers(),
                                                  limits=httpx.Limits(max_connections=self.opts.max_in_flight))
                        for ep in self.endpoints}

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._feed()), asyncio.create_task(self._watchdog())]
        tasks += [asyncio.create_task(self._worker(ep))
                  for ep in self.endpoints for _ in range(self.opts.max_in_flight)]
        try:
            await self.finished.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in self.clients.values():
                await c.aclose()
            self.backend.stats = {"retries": self.retries,
                                  "served": {redact(ep.url): ep.served for ep in self.endpoints},
                                  "failures": {redact(ep.url): ep.failures for ep in self.endpoints}}
        if self.fatal:
            raise self.fatal[0]

    # -- ending the run --
    def _fail(self, exc: BaseException) -> None:
        self.fatal.append(exc)
        self.finished.set()

    def _check_finished(self) -> None:
        if self.fed_all and self.done == self.fed:
            self.finished.set()

    async def _watchdog(self) -> None:
        down_since = None
        while not self.finished.is_set():
            if self.stop.is_set():
                self._fail(RuntimeFailure("stopped by the caller"))
                return
            if all(not ep.up.is_set() for ep in self.endpoints):
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > self.opts.dead_grace:
                    self._fail(RuntimeFailure(
                        f"every endpoint has been down for {self.opts.dead_grace:.0f}s "
                        f"({', '.join(redact(e.url) for e in self.endpoints)}); what was "
                        "written is kept, rerun the same command to resume"))
                    return
            else:
                down_since = None
            await asyncio.sleep(0.2)

    # -- the queue: fed from the requests, taken by the workers --
    async def _feed(self) -> None:
        try:
            for req in self.requests:  # renders and tokenises lazily; may raise InputError
                await self.slots.acquire()
                await self.work.put(_Item(req))
                self.fed += 1
        except Exception as e:
            self._fail(e)
            return
        self.fed_all = True
        self._check_finished()

    async def _worker(self, ep: _Endpoint) -> None:
        while True:
            await ep.up.wait()
            item = await self.work.get()
            if not ep.up.is_set():  # benched while we waited: give it back
                self.work.put_nowait(item)
                continue
            await self._call(ep, item)

    def _retry(self, item: _Item, why: str) -> None:
        item.attempts += 1
        item.errors.append(why)
        self.retries += 1
        if item.attempts >= self.opts.max_attempts:
            r = item.request
            self._fail(RuntimeFailure(f"problem {r.problem_id!r} sample {r.sample} failed {item.attempts} times "
                                      f"(last errors: {'; '.join(item.errors[-3:])}); rerun to resume"))
            return
        delay = min(30.0, 0.25 * 2 ** (item.attempts - 1)) * random.uniform(0.5, 1.5)
        asyncio.get_running_loop().call_later(delay, self.work.put_nowait, item)

    # -- one request on one endpoint --
    def _body(self, ep: _Endpoint, req: Request) -> dict:
        # A server refuses prompt + max_tokens beyond its context, where the
        # in-process engine simply stops at the limit ("length"); ask for
        # what fits so both backends behave the same.
        max_tokens = self.spec.max_tokens
        context_lengths = self.backend.context_lengths
        if ep.url in context_lengths:
            max_tokens = max(1, min(max_tokens, context_lengths[ep.url] - len(req.prompt_token_ids)))
        body = {"model": self.backend.model, "prompt": req.prompt_token_ids, "max_tokens": max_tokens,
                "temperature": self.spec.temperature, "top_p": self.spec.top_p, "seed": req.seed, "n": 1}
        if self.spec.json_schema is not None:  # vLLM's constrained decoding (`vllm serve` reads it)
            body["structured_outputs"] = {"json": json.loads(self.spec.json_schema)}
        return body

    async def _call(self, ep: _Endpoint, item: _Item) -> None:
        import httpx

        req = item.request
        body = self._body(ep, req)
        try:
            r = await self.clients[ep.url].post(ep.url + "/completions", json=body)
        except (httpx.TransportError, httpx.TimeoutException) as e:
            self._endpoint_failed(ep)
            self._retry(item, f"{redact(ep.url)}: {type(e).__name__}")
            return
        if r.status_code >= 500 or r.status_code == 429:
            if r.status_code >= 500:  # 429 is the server pacing us, not failing
                self._endpoint_failed(ep)
            self._retry(item, f"{redact(ep.url)}: HTTP {r.status_code}")
            return
        if r.status_code != 200:
            self._fail(RuntimeFailure(f"endpoint {redact(ep.url)} refused problem {req.problem_id!r} sample "
                                      f"{req.sample}: HTTP {r.status_code}: {r.text[:500]}"))
            return
        try:
            text, finish, ntok = _parse_completion(r.json())
        except (ValueError, KeyError, IndexError, TypeError) as e:
            self._endpoint_failed(ep)
            self._retry(item, f"{redact(ep.url)}: malformed response ({type(e).__name__})")
            return
        ep.failures_in_row = 0
        ep.served += 1
        await self._deliver(Completion(request=req, text=text, finish_reason=finish, completion_tokens=ntok))

    async def _deliver(self, completion: Completion) -> None:
        while True:  # hand over without blocking the loop
            try:
                self.out.put_nowait(completion)
                break
            except queue.Full:
                await asyncio.sleep(0.01)
        self.done += 1
        self.slots.release()
        self._check_finished()

    # -- endpoint health: bench after `down_after` failures, probe until back --
    def _endpoint_failed(self, ep: _Endpoint) -> None:
        ep.failures += 1
        ep.failures_in_row += 1
        if ep.failures_in_row >= self.opts.down_after and ep.up.is_set():
            ep.up.clear()
            print(f"warning: endpoint {redact(ep.url)} benched after {ep.failures_in_row} failures "
                  "in a row; its requests move to the others")
            if not ep.probing:
                asyncio.get_running_loop().create_task(self._probe(ep))

    async def _probe(self, ep: _Endpoint) -> None:
        import httpx

        ep.probing = True
        try:
            while not self.finished.is_set():
                await asyncio.sleep(self.opts.probe_interval)
                try:
                    r = await self.clients[ep.url].get(ep.url + "/models", timeout=self.opts.connect_timeout)
                    if r.status_code == 200:
                        ep.failures_in_row = 0
                        ep.up.set()
                        return
                except httpx.HTTPError:
                    pass
        finally:
            ep.probing = False


def _parse_completion(data) -> tuple[str, str, int]:
    """(text, finish_reason, completion_tokens) of a /v1/completions answer;
    raises ValueError, KeyError, IndexError or TypeError when it is malformed."""
    choice = data["choices"][0]
    text = choice["text"]
    finish = choice.get("finish_reason") or "stop"
    ntok = int(data["usage"]["completion_tokens"])
    return text, finish, ntok
