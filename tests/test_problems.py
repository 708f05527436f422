"""Problem sources: formats, field mapping, ids, and every bad-input case."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import make_problems, write_jsonl
from factory.core.errors import InputError
from factory.core.problems import FieldMap, content_id, load_problems
from factory.core.traces import TRACE_COLUMNS


def test_jsonl_json_parquet_and_folder_load_the_same_rows(tmp_path):
    rows = make_problems(5, source="unit")
    write_jsonl(tmp_path / "a" / "p.jsonl", rows[:2])
    (tmp_path / "a" / "q.json").write_text(json.dumps(rows[2:4]))
    pq.write_table(pa.Table.from_pylist(rows[4:]), tmp_path / "a" / "r.parquet")
    ps = load_problems(str(tmp_path / "a"))
    assert [r["problem_id"] for r in ps.rows] == ["p000", "p001", "p002", "p003", "p004"]
    assert ps.rows[3]["answer"] == "7" and ps.rows[3]["domain"] == "math"
    assert ps.extra_columns == ["source"] and ps.rows[0]["source"] == "unit"


def test_field_mapping_limit_and_content_ids(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"question": "Q one", "final": 3}, {"question": "Q two", "final": None}])
    ps = load_problems(str(path), fields=FieldMap(problem="question", answer="final"), limit=1)
    assert len(ps) == 1
    assert ps.rows[0] == {"problem_id": content_id("Q one"), "problem": "Q one", "answer": "3", "domain": "math",
                          "history": None, "cot": None}


def test_carried_fields_keep_types_or_fall_back_to_json(tmp_path):
    rows = [{"problem": "a", "tests": [{"input": "1", "output": "2"}], "meta": 1},
            {"problem": "b", "tests": [], "meta": "x"}]
    ps = load_problems(str(write_jsonl(tmp_path / "p.jsonl", rows)))
    schema = {f.name: f.type for f in ps.extra_schema}
    assert pa.types.is_list(schema["tests"])
    assert schema["meta"] == pa.string() and [r["meta"] for r in ps.rows] == ["1", "x"]


def test_fields_named_like_trace_columns_are_renamed(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"problem": "a", "completion": "old", "seed": 3}])
    with pytest.warns(UserWarning, match="clash"):
        ps = load_problems(str(path), reserved=TRACE_COLUMNS)
    assert ps.rows[0]["input_completion"] == "old" and ps.rows[0]["input_seed"] == 3
    assert "completion" not in ps.rows[0]


@pytest.mark.parametrize("content, message", [
    (b'{"problem": "ok"}\n{"problem": "broken"\n', r"p\.jsonl:2: malformed JSON"),
    (b'{"problem": "a\tb"}\n', r"p\.jsonl:1: malformed JSON \(Invalid control character at column 15\)"),
    (b'{"problem": "ok"}\n\n{"problem": "caf\xe9"}\n', r"p\.jsonl:3: not valid UTF-8 \(byte 0xe9"),
    (b'{"problem": "ok"}\n[1, 2]\n', r"p\.jsonl:2: expected a JSON object"),
    (b'{"question": "no problem field"}\n', r"p\.jsonl:1: missing problem field 'problem' \(fields present: question"),
    (b'{"problem": "   "}\n', r"p\.jsonl:1: problem field 'problem' is empty"),
    (b'{"problem": 12}\n', r"p\.jsonl:1: problem field 'problem' is empty or not text"),
    (b'{"id": 1, "problem": "a"}\n{"id": "1", "problem": "b"}\n', r"p\.jsonl:2: duplicate id '1', first seen at .*p\.jsonl:1"),
    (b'{"problem": "same"}\n{"problem": "same"}\n', r"p\.jsonl:2: duplicate problem text"),
    (b"\n\n", r"no problems found"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_problems(str(path))


def test_missing_file_folder_and_unsupported_type(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_problems(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no"):
        load_problems(str(tmp_path / "empty"))
    (tmp_path / "p.csv").write_text("problem\nx\n")
    with pytest.raises(InputError, match=r"p\.csv: CSV, which is not read; convert it to \.parquet"):
        load_problems(str(tmp_path / "p.csv"))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="bad.parquet: not a readable Parquet file"):
        load_problems(str(tmp_path / "bad.parquet"))


def test_parquet_errors_name_the_row(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"problem": "a"}, {"problem": ""}]), tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p\.parquet: row 2: problem field"):
        load_problems(str(tmp_path / "p.parquet"))


def test_hub_dataset_id_goes_through_datasets_and_fails_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(InputError, match=r"could not load Hub dataset 'nobody/no-such-dataset'"):
        load_problems("nobody/no-such-dataset")


def test_chat_rows_messages_prompt_response_and_trl_lists_become_general_problems(tmp_path):
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write 12 in words."},
             {"role": "assistant", "content": "twelve"}, {"role": "user", "content": "And 13?"},
             {"role": "assistant", "content": "thirteen"}]
    rows = [{"id": "m1", "messages": turns, "licence": "cc-by-4.0"},
            {"messages": [{"role": "user", "content": "hello"}]},
            {"prompt": "Name a colour.", "response": "Blue.", "cot": False},
            {"prompt": [{"role": "user", "content": "Translate 'chat' to English."}],
             "completion": [{"role": "assistant", "content": "cat"}], "domain": "translation"}]
    ps = load_problems(str(write_jsonl(tmp_path / "chat.jsonl", rows)))
    first, hello, colour, trl = ps.rows
    assert (first["problem"], first["answer"], first["domain"]) == ("And 13?", "thirteen", "general")
    assert [t["role"] for t in first["history"]] == ["system", "user", "assistant"]
    assert first["history"][2]["content"] == "twelve" and first["licence"] == "cc-by-4.0"
    assert (hello["answer"], hello["history"], hello["cot"]) == (None, None, None)
    assert hello["problem_id"] != load_problems(str(write_jsonl(tmp_path / "other.jsonl", [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"},
                      {"role": "user", "content": "hello"}]}]))).rows[0]["problem_id"]
    assert (colour["problem"], colour["answer"], colour["cot"]) == ("Name a colour.", "Blue.", False)
    assert (trl["problem"], trl["answer"], trl["domain"]) == ("Translate 'chat' to English.", "cat", "translation")
    assert ps.extra_columns == ["licence"]   # messages, prompt, response, completion are consumed


@pytest.mark.parametrize("messages, message", [
    ([], r"row\.jsonl:2: messages is an empty conversation"),
    ([{"role": "assistant", "content": "hi"}], r"row\.jsonl:2: the conversation has no user turn"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
     r"row\.jsonl:2: messages\[1\] is 'user' where 'assistant' was due"),
    ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}],
     r"row\.jsonl:2: messages\[1\] is 'assistant' where 'user' was due"),
    ([{"role": "bot", "content": "a"}], r"row\.jsonl:2: messages\[0\] has role 'bot'"),
    ([{"role": "user", "content": 3}], r"row\.jsonl:2: messages\[0\] \(user\) content must be text"),
    ([{"role": "user", "content": "  "}], r"row\.jsonl:2: messages\[0\], the last user turn, is empty"),
    ("not json", r"row\.jsonl:2: messages is text that is not a JSON list"),
    ({"role": "user"}, r"row\.jsonl:2: messages must be a list"),
])
def test_bad_conversations_name_file_and_line(tmp_path, messages, message):
    path = write_jsonl(tmp_path / "row.jsonl", [{"messages": [{"role": "user", "content": "fine"}]},
                                                {"messages": messages}])
    with pytest.raises(InputError, match=message):
        load_problems(str(path))


def test_a_cot_flag_that_is_not_a_boolean_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"problem": "a", "cot": "no"}])
    with pytest.raises(InputError, match=r"p\.jsonl:1: cot must be true or false"):
        load_problems(str(path))
