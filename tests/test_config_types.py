"""Configs and overrides are checked by type before anything starts: one line naming the file
and line (or the flag, or the --set item), exit code 2, nothing written."""

from __future__ import annotations

import dataclasses
import enum
import math
from pathlib import Path
from typing import Literal, Optional, Union

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import write_jsonl
from factory import filter as filter_cli
from factory import generate, train_student
from factory.core.errors import InputError
from factory.core.types import NONFINITE, check_fields, check_type
from factory.core.yamlfile import load_mapping
from filters.config import DEFAULT_CONFIG, FilterConfig
from students import recipe as recipes


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` containing `needle`."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def one_error(err: str) -> str:
    """The one `error:` line of a verb's stderr (a `library logs:` note may precede it)."""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# --- the ground floor: check_type and the YAML lines ---------------------------------------

class Color(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("value, annotation", [
    (3, int), (3, float), (2.5, float), (True, bool), ("x", str), (None, Optional[int]), (4, Optional[int]),
    ("out/dir", Path), (["a", "b"], list[str]), ({"a": 1}, dict[str, int]), ("a", Literal["a", "b"]),
    ("red", Union[Color, str]), (Color.RED, Color), ([], list[int]),
])
def test_values_that_fit_their_annotation(value, annotation):
    check_type(value, annotation, "w")


@pytest.mark.parametrize("value, annotation, message", [
    ("3000", int, "w: expected int, got str '3000'"),
    (True, int, "w: expected int, got bool True"),          # a bool is not a number here
    (2.0, int, "w: expected int, got float 2.0"),
    (False, float, "w: expected float, got bool False"),
    (math.inf, float, "w: expected a finite number, got inf"),
    (math.nan, Optional[float], "w: expected a finite number, got nan"),
    ("1e-5", float, "write 1.0e-5"),                          # YAML 1.1 reads it as text
    (None, int, "w: expected int, got null"),
    (3, str, "w: expected str, got int 3"),
    (3, Path, "w: expected path, got int 3"),
    (["a", 1], list[str], "w: expected list of str, got list ['a', 1]"),
    ("a", list[str], "w: expected list of str, got str 'a'"),
    ({"a": "1"}, dict[str, int], "w: expected mapping of str to int"),
    ("c", Literal["a", "b"], "w: expected one of 'a', 'b', got str 'c'"),
    ("blue", Union[Color, str], "w: expected one of 'red', got str 'blue'"),
])
def test_values_that_do_not_fit_are_one_line_saying_where(value, annotation, message):
    with pytest.raises(ValueError) as e:
        check_type(value, annotation, "w")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_float_field_may_opt_in_to_nan_and_inf():
    @dataclasses.dataclass
    class Options:
        budget: float = dataclasses.field(default=math.inf, metadata={NONFINITE: True})
        rate: float = 1.0
        cap: int = None  # a None default takes null whatever the annotation says

    check_fields(Options, {"budget": math.inf, "cap": None}, lambda name: name)
    with pytest.raises(ValueError, match="rate: expected a finite number, got inf"):
        check_fields(Options, {"rate": math.inf}, lambda name: name)


def test_yaml_mapping_remembers_the_line_of_every_key():
    text = DEFAULT_CONFIG.read_text()
    doc = load_mapping(DEFAULT_CONFIG)
    assert doc.where("filters", "readability", "max_paragraph_chars") == \
        f"{DEFAULT_CONFIG}:{line_of(text, 'max_paragraph_chars:')}"
    assert doc.where("filters", "dedup", "no_such_key") == f"{DEFAULT_CONFIG}:{line_of(text, '  dedup:')}"
    assert doc.where("nothing") == str(DEFAULT_CONFIG)
    doc.override(("filters", "readability"), {"max_chars": 1}, "--set x")
    assert doc.where("filters", "readability", "max_paragraph_chars") == "--set x"  # the file's line is stale


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", ": expected a mapping, got a list"),
    ("just text\n", ": expected a mapping, got str 'just text'"),
    ("a: [\n", ":2: invalid YAML"),
])
def test_yaml_that_is_not_a_mapping_is_one_line(text, message, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_mapping(path)
    assert str(e.value).startswith(f"{path}{message}") and "\n" not in str(e.value)


# --- filters ---------------------------------------------------------------------------------

def _traces(tmp_path) -> Path:
    return write_jsonl(tmp_path / "traces.jsonl", [
        {"id": "p1", "problem_id": "p1", "problem": "What is 3 + 4?", "answer": "7", "finish_reason": "stop",
         "completion": "<think>\n3 plus 4 is 7.\n</think>\n\nThe answer is $\\boxed{7}$."}])


@pytest.mark.parametrize("change, needle, message", [
    (("max_paragraph_chars: 3000", 'max_paragraph_chars: "3000"'), "max_paragraph_chars:",
     "readability.max_paragraph_chars: expected int, got str '3000'"),
    (("verify_timeout: 5", "verify_timeout: soon"), "verify_timeout:",
     "verify_timeout: expected float, got str 'soon'"),
    (("verify_timeout: 5", "verify_timeout: 5\nworkers: \"4\""), "workers:",
     "workers: expected int, got str '4'"),
    (("verify_timeout: 5", "verify_timeout: 5\nbatch_rows: 1.5"), "batch_rows:",
     "batch_rows: expected int, got float 1.5"),
    (("min_compression_ratio: 0.12", "min_compression_ratio: .nan"), "min_compression_ratio:",
     "readability.min_compression_ratio: expected a finite number, got nan"),
    (("domains: [math]", "domains: math"), "domains: math",
     "correctness.domains: expected list of str, got str 'math'"),
])
def test_a_wrong_typed_filter_config_names_file_and_line_and_writes_nothing(change, needle, message, tmp_path,
                                                                           capsys):
    text = DEFAULT_CONFIG.read_text().replace(*change)
    config = tmp_path / "my-filters.yaml"
    config.write_text(text)
    out = tmp_path / "out"
    assert filter_cli.main(["--input", str(_traces(tmp_path)), "--out", str(out), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert one_error(err) == f"error: {config}:{line_of(text, needle)}: {message}"
    assert not out.exists() and not out.with_name("out.log").exists()


def test_filter_config_built_in_python_is_checked_by_type_too():
    with pytest.raises(ValueError, match="the grader: correctness.domains: expected list of str, got str 'math'"):
        FilterConfig(filters={"correctness": {"domains": "math"}}, source="the grader")


# --- student recipes -------------------------------------------------------------------------

def _accepted(path: Path, reasonings: list[str]) -> Path:
    rows = [{"problem_id": f"p{i}", "sample": 0, "problem": f"What is {i} + 1?",
             "reasoning": reasoning, "response": f"The answer is \\boxed{{{i + 1}}}."}
            for i, reasoning in enumerate(reasonings)]
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "shard-000000.parquet")
    return path


def test_every_shipped_yaml_still_loads():
    assert set(FilterConfig.load().filters) == set(load_mapping(DEFAULT_CONFIG).data["filters"])
    for size in recipes.sizes():
        assert recipes.load(size).size == size


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_wrong_typed_set_item_is_refused_before_anything_is_written(dry_run, tmp_path, capsys):
    data = _accepted(tmp_path / "acc", ["1 plus 1 is 2."])
    out = tmp_path / "o"
    argv = ["--size", "tiny", "--data", str(data), "--out", str(out), "--set", "sft.learning_rate=fast"]
    assert train_student.main(argv + (["--dry-run"] if dry_run else [])) == 2
    err = capsys.readouterr().err
    assert one_error(err) == "error: --set 'sft.learning_rate=fast': sft.learning_rate: expected float, got str 'fast'"
    assert not out.exists()


@pytest.mark.parametrize("item, message", [
    ("sft.max_steps=many", "sft.max_steps: expected int, got str 'many'"),
    ("sft.lr_scheduler_type=cosinus", "sft.lr_scheduler_type: expected one of 'linear', 'cosine'"),
    ("sft.bf16=3", "sft.bf16: expected bool or null, got int 3"),
    ("sft.learnig_rate=1e-5", "sft.learnig_rate: unknown field (did you mean learning_rate?)"),
    ("hardware.gpus_per_node=2.5", "hardware.gpus_per_node: expected int, got float 2.5"),
    ("context.rope_theta=high", "context.rope_theta: expected float or null, got str 'high'"),
    ("length_buckets=[1]", "length_buckets: expected int or null, got list [1]"),
    ("sft=[1]", "sft: expected mapping, got list [1]"),
])
def test_set_items_are_checked_by_type(item, message):
    with pytest.raises(InputError) as e:
        recipes.load("7b", [item])
    assert str(e.value).startswith(f"--set {item!r}: {message}")


@pytest.mark.parametrize("change, needle, message", [
    (("learning_rate: 2.0e-3", "learning_rate: fast"), "learning_rate:",
     "sft.learning_rate: expected float, got str 'fast'"),
    (("learning_rate: 2.0e-3", "learning_rate: 2e-3"), "learning_rate:",
     "sft.learning_rate: expected float, got str '2e-3' (YAML reads a number like 1e-5 without a dot as text: "
     "write 1.0e-5)"),
    (("gpus_per_node: 1", "gpus_per_node: one"), "gpus_per_node:", "hardware.gpus_per_node: expected int"),
    (("max_steps: 200", "max_step: 200"), "max_step:", "sft.max_step: unknown field (did you mean max_steps?)"),
    (("kernels: none", "kernel: none"), "kernel:", "kernel: unknown field (did you mean kernels?)"),
])
def test_a_wrong_recipe_file_names_file_and_line(change, needle, message, tmp_path, capsys):
    text = (recipes.RECIPES / "tiny.yaml").read_text().replace(*change)
    own = tmp_path / "mine.yaml"
    own.write_text(text)
    out = tmp_path / "o"
    assert train_student.main(["--size", str(own), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_error(err).startswith(f"error: {own}:{line_of(text, needle)}: {message}")
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("- model: tiny\n- sft: {}\n", "expected a mapping of recipe fields (model, chat_template, hardware, sft, …), "
                                   "got a list"),
    ("tiny\n", "expected a mapping of recipe fields"),
    ("model: tiny\nchat_template: chatml\n", "missing field(s) sft"),
])
def test_a_recipe_that_is_not_a_mapping_is_one_line(text, message, tmp_path, capsys):
    own = tmp_path / "recipe.yaml"
    own.write_text(text)
    assert train_student.main(["--size", str(own), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert one_error(err).startswith(f"error: {own}: {message}")


# --- generate flags --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--temperature", "inf"], "--temperature must be a finite number >= 0, not inf"),
    (["--temperature", "nan"], "--temperature must be a finite number >= 0, not nan"),
    (["--temperature", "-0.1"], "--temperature must be a finite number >= 0"),
    (["--top-p", "nan"], "--top-p must be in (0, 1], not nan"),
    (["--top-p", "0"], "--top-p must be in (0, 1]"),
    (["--top-p", "inf"], "--top-p must be in (0, 1]"),
    (["--max-tokens", "0"], "--max-tokens must be at least 1"),
    (["--samples", "0"], "--samples must be at least 1"),
])
def test_sampling_flags_must_be_finite_and_in_range(argv, message, tmp_path, capsys):
    problems = write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "problem": "What is 1 + 1?", "answer": "2"}])
    out = tmp_path / "out"
    assert generate.main(["--problems", str(problems), "--teacher", str(tmp_path / "no-model"), "--out", str(out),
                          *argv]) == 2
    assert message in one_error(capsys.readouterr().err)
    assert not out.exists()


# --- the dry run's token count ---------------------------------------------------------------

def test_dry_run_counts_the_tokens_the_tokenizer_counts(tmp_path, capsys):
    """Each sequence as many tokens as the student's tokenizer makes of the rendered conversation
    (it once counted the 2 keys of a BatchEncoding), and one longer than max_length counted."""
    from factory import lab
    from students.data import load_rows, to_conversations
    from students.sft import load_tokenizer

    data = _accepted(tmp_path / "acc", ["1 plus 0 is 1.", "2 plus 0 is 2. " * 60, "3 plus 0 is 3."])
    recipe = recipes.load("tiny")
    tok = load_tokenizer(recipe, str(lab.STUDENT_BASE))
    conversations, _ = to_conversations(load_rows(str(data)))
    lengths = [len(tok(tok.apply_chat_template(c["prompt"] + c["completion"], tokenize=False),
                       add_special_tokens=False)["input_ids"]) for c in conversations]
    short, long = sorted(lengths)[1], max(lengths)
    assert 2 < short < long
    max_length = short + 1  # between the short ones and the long one
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(tmp_path / "o"), "--dry-run",
                               "--set", f"sft.max_length={max_length}"]) == 0
    out = capsys.readouterr().out
    assert f"data: 3 sequences (0 rows without reasoning left out), {sum(lengths):,} tokens" in out
    assert f"max {long:,}; counted with the base tokenizer" in out
    assert f"1 exceed max_length {max_length} ({long - max_length:,} tokens)" in out
    assert not (tmp_path / "o").exists()
