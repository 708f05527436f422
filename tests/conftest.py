"""Shared fixtures: a tiny teacher built on disk, one vLLM engine per session.

Nothing is downloaded: the model and tokenizer are made by
`factory.lab.tiny_model`, and every network test talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

# Memory fraction of the NUMA node's RAM on the CPU build; several engines
# (the shared one, CLI subprocesses, two servers) must fit side by side.
TEST_MEMORY_FRACTION = 0.2
TEST_MAX_MODEL_LEN = 1024


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from factory.lab.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-teacher"))


@pytest.fixture(scope="session")
def engine_backend(tiny_model):
    """One real in-process vLLM engine for the whole session (its start is the slow part of a test)."""
    from generators.engine import EngineBackend
    from generators.options import EngineOptions

    backend = EngineBackend(str(tiny_model), EngineOptions(max_model_len=TEST_MAX_MODEL_LEN,
                                                           gpu_memory_utilization=TEST_MEMORY_FRACTION,
                                                           enforce_eager=True))
    yield backend
    backend.close()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def make_problems(n: int, **extra) -> list[dict]:
    return [{"id": f"p{i:03d}", "problem": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1), **extra}
            for i in range(n)]


def python_cmd(*args: str) -> list[str]:
    return [sys.executable, *args]
