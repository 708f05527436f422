"""Teacher backends: one protocol, one name → class map, one --backend flag (generators/backend.py)."""

from __future__ import annotations

import inspect
import json
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory import generate
from factory.core.shards import shard_paths
from factory.evaluation import EvaluateConfig, generate_configs
from generators.backend import BACKENDS, TeacherBackend, make_backend
from generators.config import GenerateConfig
from generators.engine import EngineBackend
from generators.farm import FarmBackend
from generators.options import EngineOptions, FarmOptions
from generators.run import main as run
from generators.sampling import Completion

PROTOCOL_MEMBERS = ("name", "option_groups", "from_config", "plan", "context_length", "stats", "describe",
                    "generate", "close")
IMPLIED = "--endpoints given: --backend farm"


def _parameters(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_registered_backend_has_the_protocols_members_and_signatures(name):
    cls = BACKENDS[name]
    assert cls.name == name
    for member in PROTOCOL_MEMBERS:  # an attribute set per instance is declared on the class
        assert hasattr(cls, member) or member in inspect.get_annotations(cls), f"{cls.__name__} has no {member}"
    for method in ("from_config", "plan", "describe", "generate", "close"):
        assert _parameters(getattr(cls, method)) == _parameters(getattr(TeacherBackend, method)), (name, method)
    for group in cls.option_groups:  # each group it reads is a flag group of both verbs
        assert issubclass(GenerateConfig, group) and issubclass(EvaluateConfig, group), (name, group)


def test_built_backends_are_teacher_backends():
    llm = SimpleNamespace(llm_engine=SimpleNamespace(
        model_config=SimpleNamespace(max_model_len=1024, dtype="float32"), engine_core=None))
    engine = EngineBackend("m", EngineOptions(), llm=llm)   # a stand-in for vllm.LLM: nothing starts
    farm = FarmBackend("m", FarmOptions(endpoints=["http://127.0.0.1:9"]))   # nothing is asked before generate
    try:
        for backend in (engine, farm):
            assert isinstance(backend, TeacherBackend)
            assert backend.stats == {} and backend.describe()["backend"] == backend.name
        assert engine.context_length == 1024 and farm.context_length is None
    finally:
        engine.close()
        farm.close()


# --- the flag -------------------------------------------------------------------------------

def _argv(tmp_path, *flags):
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(2))
    return ["--problems", str(problems), "--teacher", "org/teacher", "--out", str(tmp_path / "run"), *flags]


def test_no_flag_means_the_engine_and_says_nothing(tmp_path, capsys):
    assert generate.parse(_argv(tmp_path)).backend == "engine"
    assert capsys.readouterr().err == ""


def test_endpoints_imply_the_farm_and_say_so_once(tmp_path, capsys):
    config = generate.parse(_argv(tmp_path, "--endpoints", "http://127.0.0.1:9,http://127.0.0.1:10"))
    assert config.backend == "farm"
    assert capsys.readouterr().err.splitlines() == [IMPLIED]
    assert generate.parse(_argv(tmp_path, "--endpoints", "http://127.0.0.1:9", "--backend", "farm")).backend == "farm"
    assert capsys.readouterr().err == ""   # asked for by name: nothing to say
    # evaluate says it once, and its generate runs get the farm by name
    config = EvaluateConfig(model="org/teacher", out=tmp_path / "e", benchmarks=["math500", "aime24"],
                            endpoints=["http://127.0.0.1:9"])
    assert {gen.backend for gen in generate_configs(config).values()} == {"farm"}
    assert capsys.readouterr().err.splitlines() == [IMPLIED]


@pytest.mark.parametrize("flags, message", [
    (["--backend", "engine", "--endpoints", "http://127.0.0.1:9"],
     "--endpoints (the farm) and --backend engine are two different teachers"),
    (["--backend", "ray", "--endpoints", "http://127.0.0.1:9"],
     "--endpoints (the farm) and --backend ray are two different teachers"),
    (["--backend", "farm"], "--backend farm needs --endpoints"),
    (["--endpoints", "http://127.0.0.1:9", "--replicas", "2"], "--replicas need --backend ray"),
    (["--backend", "sglang"], "invalid choice: 'sglang'"),
])
def test_conflicting_backend_flags_exit_2_with_one_line(tmp_path, capsys, flags, message):
    try:
        code = generate.main(_argv(tmp_path, *flags))
    except SystemExit as e:  # argparse's own refusal of an unknown name
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert not (tmp_path / "run").exists()


# --- a new backend is one class in the map ----------------------------------------------------

class EchoBackend:
    """A backend in a few lines: each completion says which sample it is."""

    name = "echo"
    option_groups = ()
    built: list = []

    def __init__(self, teacher: str):
        self.teacher, self.closed, self.stats = teacher, False, {"echoed": 0}

    @classmethod
    def from_config(cls, config):
        cls.built.append(cls(config.teacher))
        return cls.built[-1]

    @classmethod
    def plan(cls, config, pending):
        return [f"backend            echo: {pending} pairs"]

    @property
    def context_length(self):
        return None

    def describe(self):
        return {"backend": self.name, "teacher": self.teacher}

    def generate(self, requests, spec):
        for r in requests:
            self.stats["echoed"] += 1
            yield Completion(request=r, text=f"sample {r.sample}</think>\n\\boxed{{1}}", finish_reason="stop",
                             completion_tokens=3)

    def close(self):
        self.closed = True


def test_the_run_and_its_dry_run_go_through_the_map(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(BACKENDS, "echo", EchoBackend)
    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(3))
    config = dict(problems=str(problems), teacher=str(tiny_model), out=tmp_path / "run", samples=2, backend="echo")
    assert isinstance(make_backend(GenerateConfig(**config)), TeacherBackend)
    assert run(GenerateConfig(**config, dry_run=True)) is None
    assert "backend            echo: 6 pairs" in capsys.readouterr().out and not (tmp_path / "run").exists()
    summary = run(GenerateConfig(**config))
    backend = EchoBackend.built[-1]
    assert backend.closed and summary.rows == 6 and summary.backend_stats == {"echoed": 6}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["backend"] == {"backend": "echo", "teacher": str(tiny_model)}
    assert manifest["config"]["backend"] == "echo"
    rows = pq.read_table(shard_paths(tmp_path / "run" / "traces")[0]).to_pylist()
    assert sorted(r["response"] for r in rows) == ["\\boxed{1}"] * 6
