"""Publishing: staging, the card, the load_dataset round trip, and the upload against a loopback Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from factory import filter as filter_cli
from factory import publish

PROSE = ("We add the two numbers step by step, carrying where needed, and check the total twice "
         "against an estimate so that no arithmetic slip survives into the final answer. ")


def filtered(tmp_path, n=40, domains=("math",)) -> Path:
    rows = []
    for i in range(n):
        domain = domains[i % len(domains)]
        rows.append({"problem_id": f"p{i}", "sample": 0, "domain": domain, "problem": f"What is {i} + 1? ({domain})",
                     "answer": str(i + 1), "source": "unit",
                     "completion": f"<think>\n{PROSE} Variant {i}: the sum of {i} and one is {i + 1}.\n</think>\n\n"
                                   f"The answer is $\\boxed{{{i + 1 if i % 5 else i + 2}}}$.",
                     "finish_reason": "stop", "completion_tokens": 40 + i})
    src = write_jsonl(tmp_path / "traces.jsonl", rows)
    out = tmp_path / "filtered"
    assert filter_cli.main(["--input", str(src), "--out", str(out)]) == 0
    return out


def test_stage_names_files_bounds_row_groups_and_splits_domains(tmp_path):
    from factory.hub.stage import stage

    folder = filtered(tmp_path, n=60, domains=("math", "puzzle"))
    staged = stage(folder, tmp_path / "stage", max_file_mb=1, max_row_group_mb=0)  # tiny bounds: many groups
    assert set(staged.configs) == {"math", "puzzle"}
    for name, files in staged.configs.items():
        assert all(f.startswith(f"data/{name}/train-") for f in files)
        n = len(files)
        assert [f.split("/")[-1] for f in files] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
        meta = pq.read_metadata(tmp_path / "stage" / files[0])
        assert meta.num_row_groups == meta.num_rows  # row groups capped (here at one row)
        assert "reject_reason" not in pq.read_schema(tmp_path / "stage" / files[0]).names
    stats = json.loads((folder / "stats.json").read_text())
    # every fifth answer is wrong; correctness checks maths only, so puzzle rows all pass
    assert sum(staged.rows.values()) == stats["accepted"] == 54 and staged.rows["puzzle"] == 30


def test_dry_run_stages_a_valid_card_and_an_exact_round_trip(tmp_path, capsys):
    folder = filtered(tmp_path)
    stage_dir = tmp_path / "stage"
    assert publish.main(["--data", str(folder), "--repo-id", "me/traces", "--dry-run", "--stage", str(stage_dir),
                         "--with-rejected"]) == 0
    out = capsys.readouterr().out
    assert "load_dataset round-trip ok" in out and "nothing uploaded" in out
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(stage_dir / "README.md", repo_type="dataset")
    meta = card.data.to_dict()
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] == ["text-generation"]
    assert [c["config_name"] for c in meta["configs"]] == ["default", "rejected"]
    text = card.text
    for needle in ("## What was thrown away", "| correctness | 40 | 8 | 32 | wrong_answer 8 |",
                   "By flaw", "| wrong or missing final answer (`wrong`) | 8 | 20.0% |",
                   "| reasoning mixes languages (`mixed_language`) | 0 | 0.0% |",
                   "## Decontamination", "| math500 | 0 | 0 | - |", "word 8-gram", "![funnel](images/funnel.png)",
                   "## Yield and difficulty", "| traces kept | 32 (80.0%) |", "| problems with no kept trace | 8 |",
                   "| 0 | 8 |", "| 1 | 32 |", "![pass rate](images/pass_rate.png)",
                   "![lengths](images/lengths.png)", 'load_dataset("me/traces", "default", split="train")',
                   "python -m factory.train_student --size 7b --data me/traces"):
        assert needle in text, needle
    for png in ("funnel.png", "lengths.png", "pass_rate.png"):
        assert (stage_dir / "images" / png).read_bytes()[:4] == b"\x89PNG"
    import datasets

    rejected = datasets.load_dataset(str(stage_dir), "rejected", split="train")
    assert rejected.num_rows == 8 and set(rejected["reject_reason"]) == {"wrong_answer"}


def test_a_staged_file_that_lost_a_row_fails_the_round_trip(tmp_path):
    import pyarrow.parquet as pq

    from factory.core.errors import InputError
    from factory.hub.checks import check_round_trip
    from factory.hub.stage import stage

    folder = filtered(tmp_path)
    staged = stage(folder, tmp_path / "stage")
    path = tmp_path / "stage" / staged.configs["default"][0]
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)
    with pytest.raises(InputError, match="does not round-trip: 31 rows loaded, 32 accepted"):
        check_round_trip(staged, folder)


def test_refuses_an_empty_accepted_set_and_a_folder_without_stats(tmp_path, capsys):
    folder = filtered(tmp_path)
    for p in (folder / "accepted").glob("*.parquet"):
        t = pq.read_table(p)
        pq.write_table(t.slice(0, 0), p)
    assert publish.main(["--data", str(folder), "--repo-id", "me/x", "--dry-run"]) == 2
    assert "the accepted set is empty" in capsys.readouterr().err
    (folder / "stats.json").unlink()
    assert publish.main(["--data", str(folder), "--repo-id", "me/x", "--dry-run"]) == 2
    assert "no stats.json" in capsys.readouterr().err
    assert publish.main(["--data", str(folder), "--repo-id", "not-a-repo-id", "--dry-run"]) == 2
    assert "expected USER/NAME" in capsys.readouterr().err


# --- upload, against a loopback stand-in for the Hub (tests/hub_server.py) ---

TOKEN = "hf_SECRET_test_token_value"


@pytest.fixture
def hub():
    from hub_server import serve

    srv, store, url = serve(token=TOKEN)
    yield store, url
    srv.shutdown()


def _publish(url, *args, token=TOKEN):
    import os
    import subprocess

    from conftest import ROOT, python_cmd

    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=url, HF_HOME=str(ROOT / ".pytest-hf-home"))  # the CLI itself turns Xet off
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(python_cmd("-m", "factory.publish", *args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _branch(store, repo="tester/traces", rev="main"):
    return store.repos[("dataset", repo)]["branches"][rev]


def test_publish_uploads_then_republishing_is_a_no_op(hub, tmp_path):
    store, url = hub
    folder = filtered(tmp_path)
    first = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", "--private", "--with-rejected")
    assert first.returncode == 0, first.stdout + first.stderr
    br = _branch(store)
    files = set(br["files"])
    assert {"README.md", "factory_schema.json", "images/funnel.png", "images/lengths.png", "images/pass_rate.png",
            "data/train-00000-of-00001.parquet", "rejected/train-00000-of-00001.parquet"} <= files
    assert store.repos[("dataset", "tester/traces")]["private"] is True
    assert len(br["history"]) == 1 and store.puts == 5  # parquet x2, png x3 went through LFS
    assert ("POST", "/api/validate-yaml") in store.log  # the Hub validated the card

    again = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", "--with-rejected")
    assert again.returncode == 0, again.stderr
    assert len(_branch(store)["history"]) == 1 and store.puts == 5  # no commit, no bytes sent
    for out in (first, again):
        assert TOKEN not in out.stdout + out.stderr


def test_interrupted_upload_resumes_without_resending(hub, tmp_path):
    store, url = hub
    folder = filtered(tmp_path)
    store.fail_puts_after = 1
    broken = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", "--with-rejected")
    assert broken.returncode == 1 and "rerun the same command to resume" in broken.stderr
    assert TOKEN not in broken.stdout + broken.stderr
    assert not _branch(store).get("history")  # nothing half-committed
    store.fail_puts_after = None
    resumed = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", "--with-rejected")
    assert resumed.returncode == 0, resumed.stderr
    assert store.puts == 5  # 1 before the interruption + the 4 missing, none twice
    assert len(_branch(store)["history"]) == 1


def test_branch_revision_and_schema_guard(hub, tmp_path):
    store, url = hub
    folder = filtered(tmp_path)
    assert _publish(url, "--data", str(folder), "--repo-id", "tester/traces", "--revision", "v2").returncode == 0
    assert "data/train-00000-of-00001.parquet" in _branch(store, rev="v2")["files"]
    # the same repo, rows of another shape: refused, then allowed with --force
    other = tmp_path / "other"
    other.mkdir()
    import shutil

    shutil.copytree(folder, other / "f")
    for p in (other / "f" / "accepted").glob("*.parquet"):
        t = pq.read_table(p)
        pq.write_table(t.drop_columns(["source"]), p)
    refused = _publish(url, "--data", str(other / "f"), "--repo-id", "tester/traces", "--revision", "v2")
    assert refused.returncode == 2 and "holds factory data with another schema" in refused.stderr
    forced = _publish(url, "--data", str(other / "f"), "--repo-id", "tester/traces", "--revision", "v2", "--force")
    assert forced.returncode == 0, forced.stderr


def test_missing_or_invalid_token_says_how_to_log_in(hub, tmp_path):
    store, url = hub
    folder = filtered(tmp_path)
    missing = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", token=None)
    assert missing.returncode == 2 and "hf auth login" in missing.stderr
    wrong = _publish(url, "--data", str(folder), "--repo-id", "tester/traces", token="hf_WRONG_token_xyz")
    assert wrong.returncode == 2 and "refused the token" in wrong.stderr and "hf auth login" in wrong.stderr
    assert "hf_WRONG_token_xyz" not in wrong.stdout + wrong.stderr
    assert not store.repos  # nothing created


def test_card_tells_how_the_traces_were_made(tiny_model, engine_backend, tmp_path):
    """From a real generate run: teacher, sampling and the prompt template come from its manifest."""
    from conftest import make_problems
    from generators.config import GenerateConfig
    from generators.run import main as generate

    problems = write_jsonl(tmp_path / "p.jsonl", make_problems(4))
    run = tmp_path / "run"
    generate(GenerateConfig(problems=str(problems), teacher=str(tiny_model), out=run, samples=2, max_tokens=32),
             backend=engine_backend)
    cfg = tmp_path / "keep.yaml"
    cfg.write_text("filters:\n  dedup: {}\n")  # the random teacher fails every real filter
    assert filter_cli.main(["--input", str(run), "--out", str(tmp_path / "f"), "--config", str(cfg)]) == 0
    stage_dir = tmp_path / "stage"
    assert publish.main(["--data", str(tmp_path / "f"), "--repo-id", "me/tiny", "--dry-run",
                         "--stage", str(stage_dir)]) == 0
    text = (stage_dir / "README.md").read_text()
    from factory.core.naming import fingerprint

    # A local teacher is named by its folder and a content hash, never by the user's paths.
    assert f"| teacher | `{tiny_model.name}@{fingerprint(tiny_model)}` |" in text and "| temperature | 0.6 |" in text
    assert f"| problems | `p.jsonl@{fingerprint(problems)}` |" in text
    for staged_file in stage_dir.rglob("*"):
        if staged_file.is_file() and staged_file.suffix in (".md", ".json", ".parquet"):
            assert str(tmp_path).encode() not in staged_file.read_bytes(), staged_file
    assert "| samples per problem | 2 |" in text and "| max new tokens | 32 |" in text
    assert "Please reason step by step, and put your final answer within \\boxed{}." in text
    assert "**Not done**: the decontamination filter was not in this run's filter config." in text
    assert "(estimated from characters)" not in text  # real token counts from the run
    spent = json.loads((run / "manifest.json").read_text())["cost"]["device_seconds"]["cpu"]
    assert "## What an accepted trace cost" in text and f"| device time, in all | {spent / 3600:,.2f} cpu-hours |" in text
    assert "| one accepted trace | " in text and f"{spent / 8 / 3600:,.2f} cpu-hours |" in text   # 8 kept of 8
