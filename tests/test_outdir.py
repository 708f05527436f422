"""factory/core/outdir.py: output folders apart from inputs, one lock each, replaced only when owned."""

from __future__ import annotations

import json
import os

import pytest

from factory.core import outdir
from factory.core.errors import InputError


def test_out_must_not_overlap_an_input(tmp_path):
    data = tmp_path / "runs" / "gen"
    (data / "traces").mkdir(parents=True)
    for out, says in ((data, "is the input"), (data / "traces" / "x", "is inside the input"),
                      (tmp_path / "runs", "holds the input")):
        with pytest.raises(InputError, match=says):
            outdir.check_apart(out, {"--input": str(data)})
    outdir.check_apart(tmp_path / "runs" / "other", {"--input": str(data), "--config": None,
                                                     "--hub": "user/not-a-path"})
    partial = tmp_path / "gen.partial"   # an input named like the folder the verb derives from --out
    partial.mkdir()
    with pytest.raises(InputError, match=r"\(its gen.partial\)"):
        outdir.check_apart(tmp_path / "gen", {"--input": str(partial)}, derived=(partial,))


def test_a_second_claim_is_refused_naming_the_holder_and_the_lock_goes_with_the_first(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    with outdir.claim(out, "filter"):
        holder = json.loads((tmp_path / "a" / "b" / "out.lock").read_text())
        assert holder["verb"] == "filter" and holder["pid"] == os.getpid()
        with pytest.raises(InputError, match=rf"is in use by factory.filter \(pid {os.getpid()} "):
            with outdir.claim(out, "generate"):
                pass
    assert not (tmp_path / "a" / "b" / "out.lock").exists()
    with outdir.claim(out, "generate"):  # free again
        pass


def test_bad_input_inside_a_claim_removes_what_the_claim_made(tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(InputError, match="bad"):
        with outdir.claim(out, "generate") as c:
            c.make()
            raise InputError("bad")
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(InputError):
        with outdir.claim(mine, "generate") as c:
            c.make()                        # an empty folder of the user's is adopted …
            raise InputError("bad")
    assert mine.is_dir() and list(mine.iterdir()) == []   # … and given back as it was


@pytest.mark.parametrize("verb, entries, record, ok", [
    ("generate", ["manifest.json", "traces/", ".lock"], "manifest.json", True),   # made before markers
    ("generate", ["manifest.json", "traces/", "notes.txt"], "manifest.json", False),
    ("generate", ["traces/"], None, False),                                       # no manifest: not a run
    ("filter", ["accepted/", "rejected/", "stats.json"], "stats.json", True),
    ("filter", ["accepted/", "rejected/"], None, False),
    ("publish", ["README.md", "data/", "factory_publish.json"], "factory_publish.json", True),
    ("generate", ["logs/"], None, True),                                          # only its log so far
    ("filter", ["logs/"], None, False),                                           # the filter logs beside
])
def test_who_owns_a_folder_without_a_marker(verb, entries, record, ok, tmp_path):
    for e in entries:
        (tmp_path / e.rstrip("/")).mkdir() if e.endswith("/") else (tmp_path / e).write_text("{}")
    assert (outdir.owner_problem(tmp_path, verb, replacing=True) is None) == ok


def test_a_marked_folder_belongs_to_its_verb_only(tmp_path):
    outdir.mark(tmp_path, "filter")
    (tmp_path / "accepted").mkdir()
    assert outdir.owner_problem(tmp_path, "filter", replacing=True) is None
    assert "holds the output of factory.filter" in outdir.owner_problem(tmp_path, "publish")
    (tmp_path / "notes.txt").write_text("mine")
    assert outdir.owner_problem(tmp_path, "filter") is None              # using it adds, never removes
    assert "notes.txt" in outdir.owner_problem(tmp_path, "filter", replacing=True)
