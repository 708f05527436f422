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
import os
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from factory.core.errors import InputError, RuntimeFailure
from generators.sampling import Completion, Request, SamplingSpec


@dataclass
class FarmOptions:
    endpoints: list[str]
    served_model: str | None = None   # model name the servers answer to; default: found by asking
    max_in_flight: int = 64           # per endpoint
    request_timeout: float = 3600.0   # 32k tokens can take a long time on a busy server
    connect_timeout: float = 10.0
    max_attempts: int = 8             # per request, across all endpoints
    down_after: int = 3               # consecutive failures that bench an endpoint
    probe_interval: float = 5.0
    dead_grace: float = 300.0         # every endpoint down this long → stop the run
    api_key_env: str = "FACTORY_API_KEY"


def normalize_endpoint(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--endpoints: {redact(url)!r} is not an http(s) URL like http://host:8000")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def redact(url: str) -> str:
    """URL without user:password@ for logs and manifests."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
    return urlunsplit(parts)


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
    name = "farm"

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
                "max_in_flight": self.options.max_in_flight, "request_timeout": self.options.request_timeout}

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
        import httpx

        opts = self.options
        endpoints = [_Endpoint(url) for url in self.urls]
        for ep in endpoints:
            if ep.url in self.reachable:
                ep.up.set()
        work: asyncio.Queue[_Item] = asyncio.Queue()
        slots = asyncio.Semaphore(max(1, 2 * opts.max_in_flight * len(endpoints)))
        finished = asyncio.Event()
        counts = {"fed": 0, "done": 0, "fed_all": False, "retries": 0}
        fatal: list[BaseException] = []
        timeout = httpx.Timeout(opts.request_timeout, connect=opts.connect_timeout)
        clients = {ep.url: httpx.AsyncClient(timeout=timeout, headers=self._headers(),
                                             limits=httpx.Limits(max_connections=opts.max_in_flight))
                   for ep in endpoints}

        def fail(exc: BaseException) -> None:
            fatal.append(exc)
            finished.set()

        def check_finished() -> None:
            if counts["fed_all"] and counts["done"] == counts["fed"]:
                finished.set()

        async def feeder():
            try:
                for req in requests:  # renders and tokenises lazily; may raise InputError
                    await slots.acquire()
                    await work.put(_Item(req))
                    counts["fed"] += 1
            except Exception as e:
                fail(e)
                return
            counts["fed_all"] = True
            check_finished()

        async def probe(ep: _Endpoint):
            ep.probing = True
            try:
                while not finished.is_set():
                    await asyncio.sleep(opts.probe_interval)
                    try:
                        r = await clients[ep.url].get(ep.url + "/models", timeout=opts.connect_timeout)
                        if r.status_code == 200:
                            ep.failures_in_row = 0
                            ep.up.set()
                            return
                    except httpx.HTTPError:
                        pass
            finally:
                ep.probing = False

        def endpoint_failed(ep: _Endpoint) -> None:
            ep.failures += 1
            ep.failures_in_row += 1
            if ep.failures_in_row >= opts.down_after and ep.up.is_set():
                ep.up.clear()
                print(f"warning: endpoint {redact(ep.url)} benched after {ep.failures_in_row} failures "
                      "in a row; its requests move to the others")
                if not ep.probing:
                    asyncio.get_running_loop().create_task(probe(ep))

        def retry(item: _Item, why: str) -> None:
            item.attempts += 1
            item.errors.append(why)
            counts["retries"] += 1
            if item.attempts >= opts.max_attempts:
                r = item.request
                fail(RuntimeFailure(f"problem {r.problem_id!r} sample {r.sample} failed {item.attempts} times "
                                    f"(last errors: {'; '.join(item.errors[-3:])}); rerun to resume"))
                return
            delay = min(30.0, 0.25 * 2 ** (item.attempts - 1)) * random.uniform(0.5, 1.5)
            asyncio.get_running_loop().call_later(delay, work.put_nowait, item)

        async def call(ep: _Endpoint, item: _Item) -> None:
            req = item.request
            # A server refuses prompt + max_tokens beyond its context, where the
            # in-process engine simply stops at the limit ("length"); ask for
            # what fits so both backends behave the same.
            max_tokens = spec.max_tokens
            if ep.url in self.context_lengths:
                max_tokens = max(1, min(max_tokens, self.context_lengths[ep.url] - len(req.prompt_token_ids)))
            body = {"model": self.model, "prompt": req.prompt_token_ids, "max_tokens": max_tokens,
                    "temperature": spec.temperature, "top_p": spec.top_p, "seed": req.seed, "n": 1}
            try:
                r = await clients[ep.url].post(ep.url + "/completions", json=body)
            except (httpx.TransportError, httpx.TimeoutException) as e:
                endpoint_failed(ep)
                retry(item, f"{redact(ep.url)}: {type(e).__name__}")
                return
            if r.status_code >= 500 or r.status_code == 429:
                if r.status_code >= 500:
                    endpoint_failed(ep)
                retry(item, f"{redact(ep.url)}: HTTP {r.status_code}")
                return
            if r.status_code != 200:
                fail(RuntimeFailure(f"endpoint {redact(ep.url)} refused problem {req.problem_id!r} sample "
                                    f"{req.sample}: HTTP {r.status_code}: {r.text[:500]}"))
                return
            try:
                data = r.json()
                choice = data["choices"][0]
                text = choice["text"]
                finish = choice.get("finish_reason") or "stop"
                ntok = int(data["usage"]["completion_tokens"])
            except (ValueError, KeyError, IndexError, TypeError) as e:
                endpoint_failed(ep)
                retry(item, f"{redact(ep.url)}: malformed response ({type(e).__name__})")
                return
            ep.failures_in_row = 0
            ep.served += 1
            completion = Completion(request=req, text=text, finish_reason=finish, completion_tokens=ntok)
            while True:  # hand over without blocking the loop
                try:
                    out.put_nowait(completion)
                    break
                except queue.Full:
                    await asyncio.sleep(0.01)
            counts["done"] += 1
            slots.release()
            check_finished()

        async def worker(ep: _Endpoint):
            while True:
                await ep.up.wait()
                item = await work.get()
                if not ep.up.is_set():  # benched while we waited: give it back
                    work.put_nowait(item)
                    continue
                await call(ep, item)

        async def watchdog():
            down_since = None
            while not finished.is_set():
                if stop.is_set():
                    fail(RuntimeFailure("stopped by the caller"))
                    return
                if all(not ep.up.is_set() for ep in endpoints):
                    down_since = down_since or time.monotonic()
                    if time.monotonic() - down_since > opts.dead_grace:
                        fail(RuntimeFailure(f"every endpoint has been down for {opts.dead_grace:.0f}s "
                                            f"({', '.join(redact(e.url) for e in endpoints)}); what was "
                                            "written is kept, rerun the same command to resume"))
                        return
                else:
                    down_since = None
                await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(feeder()), asyncio.create_task(watchdog())]
        tasks += [asyncio.create_task(worker(ep)) for ep in endpoints for _ in range(opts.max_in_flight)]
        try:
            await finished.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in clients.values():
                await c.aclose()
            self.stats = {"retries": counts["retries"],
                          "served": {redact(ep.url): ep.served for ep in endpoints},
                          "failures": {redact(ep.url): ep.failures for ep in endpoints}}
        if fatal:
            raise fatal[0]
