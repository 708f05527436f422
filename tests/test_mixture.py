"""Mixtures (students/mixture.py): the file, the plan, the build, and the two verbs that take one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, python_cmd, write_jsonl
from factory import publish, train_student
from factory.core.errors import InputError
from students import mixture


def traces(n: int, tag: str = "r", domain: str = "math") -> list[dict]:
    return [{"problem_id": f"{tag}{i}", "sample": i % 2, "domain": domain, "problem": f"What is {i} + 1?",
             "prompt": f"[{tag}] What is {i} + 1? Reason step by step.", "reasoning": f"{i} plus one is {i + 1}.",
             "response": f"The answer is \\boxed{{{i + 1}}}.", "source": "unit"} for i in range(n)]


def run_folder(path: Path, rows: list[dict], licence: str | None = None, input_rows: int | None = None) -> Path:
    """A filter output as the mixture reads it: accepted/ shards and a stats.json."""
    (path / "accepted").mkdir(parents=True)
    half = len(rows) // 2
    pq.write_table(pa.Table.from_pylist(rows[:half]), path / "accepted" / "shard-000000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[half:]), path / "accepted" / "shard-000001.parquet")
    stats = {"input_rows": input_rows or 2 * len(rows), "accepted": len(rows), "funnel": []}
    if licence:
        stats["license"] = licence
    (path / "stats.json").write_text(json.dumps(stats))
    return path


def general(path: Path, n: int) -> Path:
    """A plain SFT set with a `messages` column, one Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": f"Write a haiku about {i}."},
                          {"role": "assistant", "content": f"<think>\nA haiku.\n</think>\n\nHaiku number {i}."}],
             "domain": "writing"} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def mixture_file(path: Path, body: str) -> Path:
    path.write_text("# a test mixture\ndataset_mixture:\n" + body)
    return path


@pytest.fixture
def sources(tmp_path):
    reasoning = run_folder(tmp_path / "reasoning", traces(90), licence="apache-2.0")
    chat = general(tmp_path / "general.parquet", 40)
    return reasoning, chat


def two_sources(tmp_path, sources, extra: str = "") -> Path:
    reasoning, chat = sources
    return mixture_file(tmp_path / "mix.yaml", f"""  datasets:
    - id: {reasoning}
      weight: 0.75
    - id: {chat}
      weight: 0.25
  seed: 7
{extra}""")


def read(folder: Path, split: str = "train") -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted((folder / split).glob("*.parquet"))]).to_pylist()


def test_every_shipped_mixture_loads_and_validates():
    shipped = mixture.shipped()
    assert [p.name for p in shipped] == ["r1.yaml"]
    for path in shipped:
        m = mixture.load(path, check_sources=False)
        assert m.datasets and all((s.rows is None) != (s.weight is None) for s in m.datasets)
        assert "python -m factory.train_student" in path.read_text().split("dataset_mixture:")[0]
    r1 = mixture.load(mixture.MIXTURES / "r1.yaml", check_sources=False)
    assert [s.rows for s in r1.datasets] == [600_000, 200_000]


def test_two_builds_are_identical_and_shares_are_honoured(tmp_path, sources):
    m = mixture.load(two_sources(tmp_path, sources))
    a, b = mixture.build(m, tmp_path / "a"), mixture.build(m, tmp_path / "b")
    # weights 3:1 with 90 and 40 rows: the reasoning source is the scarcer one for its share → 120 rows
    assert a.rows == {"train": 120} and [s["rows_taken"] for s in a.sources] == [90, 30]
    assert (tmp_path / "a" / "rows.parquet").read_bytes() == (tmp_path / "b" / "rows.parquet").read_bytes()
    shards = sorted(p.name for p in (tmp_path / "a" / "train").iterdir())
    assert shards and all((tmp_path / "a" / "train" / s).read_bytes() == (tmp_path / "b" / "train" / s).read_bytes()
                          for s in shards)
    rows = read(tmp_path / "a")
    ids = [str(p) for p in sources]
    assert [r["source"] for r in rows].count(ids[0]) == 90 and [r["source"] for r in rows].count(ids[1]) == 30
    first_half = [r["source"] for r in rows[:60]]
    assert first_half.count(ids[1]) >= 5   # interleaved, not one source after the other


def test_another_seed_takes_other_rows(tmp_path, sources):
    reasoning, chat = sources
    picked = []
    for seed in (1, 2):
        m = mixture.load(mixture_file(tmp_path / f"s{seed}.yaml", f"  datasets:\n    - id: {reasoning}\n      rows: 30\n"
                                                                   f"  seed: {seed}\n"))
        mixture.build(m, tmp_path / f"o{seed}")
        picked.append({r["problem_id"] for r in read(tmp_path / f"o{seed}")})
    assert len(picked[0]) == len(picked[1]) == 30 and picked[0] != picked[1]


def test_total_rows_and_rows_and_a_test_split(tmp_path, sources):
    reasoning, chat = sources
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"""  datasets:
    - id: {reasoning}
      weight: 2
    - id: {chat}
      rows: 10
  total_rows: 70
  test_split_size: 0.2
"""))
    result = mixture.build(m, tmp_path / "out")
    assert [(s["rows_taken"], s["test"]) for s in result.sources] == [(60, 12), (10, 2)]
    assert result.rows == {"train": 56, "test": 14}
    train, test = read(tmp_path / "out"), read(tmp_path / "out", "test")
    assert len(train) == 56 and len(test) == 14
    key = lambda r: (r["source"], r["problem_id"], json.dumps(r["messages"]))  # noqa: E731
    assert not {key(r) for r in train} & {key(r) for r in test}


def test_columns_are_unified_and_the_manifest_says_which_rows_went_in(tmp_path, sources):
    reasoning, chat = sources
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"""  datasets:
    - id: {reasoning}
      columns: [problem_id, sample, prompt, reasoning, response, source]
      rows: 20
    - id: {chat}
      rows: 15
"""))
    mixture.build(m, tmp_path / "out")
    rows = read(tmp_path / "out")
    assert list(rows[0]) == ["source", "problem_id", "sample", "prompt", "reasoning", "response", "source_original",
                             "messages", "domain"]
    for r in rows:
        if r["source"] == str(reasoning):
            assert r["messages"] is None and r["domain"] is None and r["source_original"] == "unit"
        else:
            assert r["prompt"] is None and r["messages"][0]["role"] == "user" and r["domain"] == "writing"
    record = pq.read_table(tmp_path / "out" / "rows.parquet").to_pylist()
    assert len(record) == 35 and {r["split"] for r in record} == {"train"}
    # each recorded row index points at the very row in its source's files (sorted order)
    accepted = pa.concat_tables([pq.read_table(p) for p in sorted((reasoning / "accepted").glob("*.parquet"))])
    originals = accepted.to_pylist()
    chats = pq.read_table(chat).to_pylist()
    got = {(r["problem_id"], r["prompt"]) for r in rows if r["source"] == str(reasoning)}
    assert got == {(originals[r["row"]]["problem_id"], originals[r["row"]]["prompt"]) for r in record
                   if r["source"] == str(reasoning)}
    assert sorted(json.dumps(r["messages"]) for r in rows if r["source"] == str(chat)) == \
        sorted(json.dumps(chats[r["row"]]["messages"]) for r in record if r["source"] == str(chat))
    manifest = json.loads((tmp_path / "out" / "mixture.json").read_text())
    first = manifest["sources"][0]
    assert first["funnel"] == {"input_rows": 180, "accepted": 90} and first["licence"] == "apache-2.0"
    assert manifest["sources"][1]["licence"] == "unknown" and manifest["sources"][1]["domains"] == {"writing": 15}
    assert manifest["sha256"] == mixture.load(tmp_path / "mix.yaml", check_sources=False).sha256


def test_a_row_in_two_sources_is_taken_once(tmp_path):
    base = traces(30)
    a = run_folder(tmp_path / "a", base)
    b = run_folder(tmp_path / "b", base[:12] + traces(18, tag="s"))   # 12 rows the same as in a
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"""  datasets:
    - id: {a}
      rows: 30
    - id: {b}
      weight: 1
"""))
    result = mixture.build(m, tmp_path / "out")
    assert result.duplicates == 12 and [s["rows_available"] for s in result.sources] == [30, 18]
    rows = read(tmp_path / "out")
    pairs = [(r["prompt"], r["response"]) for r in rows]
    assert len(rows) == 48 and len(set(pairs)) == 48


def test_a_hub_source_is_loaded_once_and_copied(tmp_path, sources, monkeypatch):
    import datasets

    calls = []

    def fake_load(name, config=None, split="train", **kw):
        calls.append((name, config, split))
        return datasets.Dataset.from_list(traces(25, tag="hub"))

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"""  datasets:
    - id: someone/r1-traces
      config: math
      split: train
      rows: 10
    - id: {sources[0]}
      rows: 10
"""), check_sources=False)
    result = mixture.build(m, tmp_path / "out")
    assert calls == [("someone/r1-traces", "math", "train")]
    assert result.sources[0]["copy"] == ["sources/00.parquet"] and result.sources[0]["kind"] == "hub"
    assert pq.read_metadata(tmp_path / "out" / "sources" / "00.parquet").num_rows == 25
    assert sum(r["source"] == "someone/r1-traces" for r in read(tmp_path / "out")) == 10


def test_a_jsonl_source(tmp_path, sources):
    src = write_jsonl(tmp_path / "extra.jsonl", traces(12, tag="j"))
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"  datasets:\n    - id: {src}\n      rows: 12\n"
                                                         f"    - id: {sources[0]}\n      rows: 3\n"))
    mixture.build(m, tmp_path / "out")
    assert sorted(r["problem_id"] for r in read(tmp_path / "out") if r["source"] == str(src)) == \
        sorted(f"j{i}" for i in range(12))


BAD = [
    ("    - id: {r}\n      wieght: 0.5\n", 5, "unknown key (did you mean weight?)"),
    ("    - id: {r}\n      weight: 0.7.5\n", 5, "datasets[0].weight: expected float or null, got str '0.7.5'"),
    ("    - id: {r}\n      weight: 0\n", 5, "weight must be above 0"),
    ("    - id: {r}\n      weight: 0.5\n      rows: 10\n", 6, "has both weight and rows"),
    ("    - id: {r}\n      rows: 10\n    - id: /no/such/folder\n      rows: 1\n", 6, "no such file or folder"),
    ("    - id: {r}\n      rows: 91\n", 5, "asks for 91 rows but has 90"),
    ("    - id: {r}\n      rows: 5\n      columns: [prompt, answr]\n", 6, "no column 'answr'"),
    ("    - id: {r}\n      rows: 5\n  test_split_size: 1.0\n", 6, "test_split_size must be in [0, 1)"),
    ("    - id: {r}\n      rows: 5\n    - id: {r}\n      rows: 5\n", 6, "is listed twice"),
    ("    - id: {r}\n      rows: 5\n  sed: 3\n", 6, "unknown key (did you mean seed?)"),
]


@pytest.mark.parametrize("body, line, says", BAD)
def test_bad_input_names_file_and_line_and_writes_nothing(body, line, says, tmp_path, sources):
    path = mixture_file(tmp_path / "bad.yaml", "  datasets:\n" + body.format(r=sources[0]))
    with pytest.raises(InputError) as e:
        mixture.build(mixture.load(path, check_sources=False), tmp_path / "out")
    assert str(e.value).startswith(f"{path}:{line}: ") and says in str(e.value), str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.lock").exists()


def test_the_cli_refuses_a_bad_mixture_in_one_line_and_writes_nothing(tmp_path, sources):
    path = mixture_file(tmp_path / "bad.yaml", f"  datasets:\n    - id: {sources[0]}\n      weight: -1\n")
    out = tmp_path / "student"
    proc = subprocess.run(python_cmd("-m", "factory.train_student", "--data", str(path), "--out", str(out)),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert errors == [f"error: {path}:5: datasets[0]: {sources[0]}: weight must be above 0, not -1"]
    assert not out.exists()


def test_a_source_too_small_after_duplicates_is_refused_at_build(tmp_path):
    base = traces(20)
    a, b = run_folder(tmp_path / "a", base), run_folder(tmp_path / "b", base[:15] + traces(5, tag="s"))
    m = mixture.load(mixture_file(tmp_path / "mix.yaml", f"  datasets:\n    - id: {a}\n      rows: 20\n"
                                                         f"    - id: {b}\n      rows: 10\n"))
    with pytest.raises(InputError, match=r"mix.yaml:7: .*asks for 10 rows but has 5 once the rows already in"):
        mixture.build(m, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_out_inside_a_source_is_refused(tmp_path, sources):
    m = mixture.load(two_sources(tmp_path, sources))
    with pytest.raises(InputError, match="is inside the input"):
        mixture.build(m, sources[0] / "mixed")
    assert not (sources[0] / "mixed").exists()


def test_a_second_build_reuses_and_a_changed_mixture_is_refused(tmp_path, sources):
    path = two_sources(tmp_path, sources)
    out = tmp_path / "out"
    mixture.build(mixture.load(path), out)
    shard = next((out / "train").iterdir())
    before = shard.stat().st_mtime_ns
    assert mixture.build(mixture.load(path), out).reused and shard.stat().st_mtime_ns == before
    path.write_text(path.read_text().replace("seed: 7", "seed: 8"))
    with pytest.raises(InputError, match="holds a mixture built from other inputs"):
        mixture.build(mixture.load(path), out)
    rebuilt = mixture.build(mixture.load(path), out, overwrite=True)
    assert not rebuilt.reused and json.loads((out / "mixture.json").read_text())["seed"] == 8
    assert not (tmp_path / "out.old").exists() and not (tmp_path / "out.partial").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and was not made by factory.mixture"):
        mixture.build(mixture.load(path), tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_train_student_dry_run_prints_the_plan_and_writes_nothing(tmp_path, sources, capsys):
    path = two_sources(tmp_path, sources)
    out = tmp_path / "student"
    assert train_student.main(["--size", "tiny", "--data", str(path), "--out", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.strip().startswith(str(sources[0])))
    assert line.split()[1:] == ["filter", "run", "90", "90", "75.0%"]
    assert f"built into {out / 'data'} when training starts" in printed and not out.exists()


def test_train_student_trains_on_a_mixture_and_reuses_it(tmp_path, capsys):
    # two trace-shaped sources: `messages` rows reach the student through students/data.py's own support
    reasoning = run_folder(tmp_path / "reasoning", traces(90))
    chat = run_folder(tmp_path / "general", traces(40, tag="g", domain="general"))
    path = two_sources(tmp_path, (reasoning, chat))
    out = tmp_path / "student"
    argv = ["--size", "tiny", "--data", str(path), "--out", str(out), "--max-steps", "2"]
    assert train_student.main(argv) == 0
    printed = capsys.readouterr().out
    assert "120 train rows from 2 sources (built" in printed and "trained 2 steps on 120 of 120 rows" in printed
    meta = json.loads((out / "model" / "factory_student.json").read_text())
    assert meta["data"] == str(path) and meta["rows"] == 120
    assert train_student.main(argv) == 0
    assert "(reused;" in capsys.readouterr().out


def test_publish_dry_run_of_a_mixture_stages_a_card_with_its_sources(tmp_path, sources, capsys):
    path = two_sources(tmp_path, sources, "  test_split_size: 0.1\n")
    stage = tmp_path / "stage"
    assert publish.main(["--data", str(path), "--repo-id", "me/mix", "--dry-run", "--stage", str(stage)]) == 0
    printed = capsys.readouterr().out
    assert "load_dataset round-trip ok" in printed and (tmp_path / "stage.mixture" / "mixture.json").is_file()
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(stage / "README.md", repo_type="dataset")
    files = card.data.to_dict()["configs"][0]["data_files"]
    assert [f["split"] for f in files] == ["train", "test"]
    text = card.text
    assert "## Mixture" in text
    assert f"| `{sources[0]}` | filter run | 90 | 75.0% | 9 | math 90 |" in text
    assert "| 90 of 180 accepted | apache-2.0 |" in text and f"| `{sources[1]}` | files | 30 | 25.0% | 3 |" in text
    import datasets

    loaded = datasets.load_dataset(str(stage))
    assert loaded["train"].num_rows == 108 and loaded["test"].num_rows == 12
    # a rerun reuses the built mixture
    assert publish.main(["--data", str(path), "--repo-id", "me/mix", "--dry-run", "--stage", str(stage)]) == 0
    assert "(reused)" in capsys.readouterr().out
