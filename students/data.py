"""Accepted traces → chat examples for SFT.

Each trace becomes a prompt-completion conversation:
  user:      the same prompt generation used (the `prompt` column; else the
             domain's template applied to `problem`)
  assistant: "<think>\\n{reasoning}\\n</think>\\n\\n{response}"
so the student learns to open its answer with the think block, as the
teacher was made to. A conversation's earlier turns (`history`) come before
the user turn; a reply given no chain of thought (`cot: none`, R1's simple
queries) keeps its empty think block. Rows without reasoning (other than
those) or a response cannot teach that and are dropped, counted. A plain
SFT set of `messages` trains on its last assistant turn after the others,
given an empty think block where it has none (one format for the student).
With `unfinished=True` (`--keep-unfinished`), a row cut before its think
block closed (reasoning, no response: a loop run to the context) is kept as
it was written, "<think>\\n{reasoning}" with no closing tag and no answer,
the chat template ending the turn after it: what training on unfiltered
teacher output really feeds a student (the demo's unfiltered student).
"""

from __future__ import annotations

from dataclasses import dataclass

from factory.core.chat import parse_messages, student_turns
from factory.core.errors import InputError
from factory.core.inputs import check_parquet, open_parquet, resolve
from factory.core.prompts import load_template
from factory.core.traces import NO_THINK, THINK_OPEN, join_completion, split_completion


@dataclass
class DataReport:
    rows: int
    used: int
    dropped_no_reasoning: int
    unfinished: int = 0        # rows kept without a response (`unfinished=True`)


def load_rows(spec: str):
    """A `datasets.Dataset` of accepted traces, from a local folder/file or a Hub dataset id."""
    import datasets

    datasets.disable_progress_bars()
    try:
        found = resolve(spec, (".parquet",))
    except InputError as e:
        raise InputError(f"--data {e}") from None
    try:
        if found.hub_id:
            ds = found.hub_dataset("train")
        else:
            if sum(open_parquet(f).metadata.num_rows for f in found.files) == 0:
                raise InputError(f"--data {spec}: no rows (is the accepted set empty?)")
            ds = datasets.load_dataset("parquet", data_files=[str(f) for f in found.files], split="train")
    except InputError:
        raise
    except Exception as e:
        for f in found.files:  # a corrupt page: name the file and its row group
            try:
                check_parquet(f)
            except InputError as bad:
                raise InputError(f"--data {bad}") from None
        raise InputError(f"--data {spec}: cannot be loaded ({type(e).__name__}: {str(e)[:300]})") from None
    if ds.num_rows == 0:
        raise InputError(f"--data {spec}: no rows (is the accepted set empty?)")
    return ds


def to_conversations(ds, spec: str = "data", unfinished: bool = False):
    """(Dataset with `prompt` and `completion` message lists, DataReport); see the module docstring."""
    names = set(ds.column_names)
    if "messages" in names and not names & {"problem", "prompt"}:
        convert = _from_messages(spec)
    else:
        convert = _from_traces(names, spec, unfinished)
    converted = ds.map(convert, remove_columns=ds.column_names, with_indices=True)
    kept = converted.filter(lambda r: r["_ok"])
    cut = sum(kept["_cut"]) if kept.num_rows else 0
    used = kept.remove_columns(["_ok", "_cut"])
    report = DataReport(rows=ds.num_rows, used=used.num_rows, dropped_no_reasoning=ds.num_rows - used.num_rows,
                        unfinished=cut)
    if used.num_rows == 0:
        raise InputError(f"--data {spec}: none of its {ds.num_rows} rows has both reasoning and a response "
                         "(train on the filter's accepted traces)")
    return used, report


def _from_traces(names: set[str], spec: str, unfinished: bool):
    """Row → example, for the factory's traces (and sets with prompt/problem and reasoning/response)."""
    if "problem" not in names and "prompt" not in names:
        raise InputError(f"--data {spec}: needs a 'prompt' or 'problem' column (or 'messages'); "
                         f"has {', '.join(sorted(names))}")
    if not ({"reasoning", "response"} <= names or "completion" in names):
        raise InputError(f"--data {spec}: needs 'reasoning' and 'response' (or 'completion') columns; "
                         f"has {', '.join(sorted(names))}")
    templates: dict = {}

    def convert(row, i):
        if "reasoning" in names and "response" in names:
            reasoning, response = row["reasoning"], row["response"]
        else:
            reasoning, response = split_completion(row["completion"] or "")
        prompt = row.get("prompt")
        if not prompt:
            domain = row.get("domain") or "math"
            templates.setdefault(domain, load_template(domain))
            prompt = templates[domain].user_message(row["problem"])
        has_reasoning, has_response = bool((reasoning or "").strip()), bool((response or "").strip())
        cut = unfinished and has_reasoning and not has_response
        text = join_completion(reasoning or "", None if cut else response or "")
        no_cot = row.get("cot") == "none"
        try:
            turns = student_turns(row.get("history"), prompt)
        except (TypeError, KeyError, ValueError):
            raise InputError(f"--data {spec}: row {i + 1}: its history is not a list of {{role, content}} "
                             f"turns (got {str(row.get('history'))[:80]})") from None
        return {"prompt": turns,
                "completion": [{"role": "assistant", "content": text}],
                "_ok": (has_reasoning or no_cot) and (has_response or cut), "_cut": cut}

    return convert


def _from_messages(spec: str):
    """Row → example, for a plain SFT set: the turns up to the last assistant one, which is learnt."""
    def convert(row, i):
        chat = parse_messages(f"--data {spec}: row {i + 1}", row["messages"])
        reply = chat.reference or ""
        if reply.strip() and not reply.lstrip().startswith(THINK_OPEN):
            reply = NO_THINK + reply.strip()
        return {"prompt": student_turns(chat.history, chat.prompt),
                "completion": [{"role": "assistant", "content": reply}], "_ok": bool(reply.strip()), "_cut": False}

    return convert


def bucket_by_length(ds, batch_size: int, bucket_rows: int, seed: int = 42):
    """Order rows so that consecutive batches hold traces of similar length.

    Rows are shuffled, cut into buckets of `bucket_rows`, each bucket sorted by
    length and cut into batches, and the batches shuffled: little padding, and
    still no short-to-long curriculum. Meant for a sequential sampler; it is
    what packing achieves where no variable-length attention kernel exists
    (CPU), without attending across packed sequences.
    """
    import random

    lengths = [sum(len(t["content"]) for t in p + c) for p, c in zip(ds["prompt"], ds["completion"])]
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), bucket_rows):
        bucket = sorted(order[start:start + bucket_rows], key=lengths.__getitem__)
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return ds.select([i for b in batches for i in b])
