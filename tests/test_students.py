"""Students: recipes, dry runs, label masking on real batches, real TRL training on CPU."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, python_cmd
from factory import train_student
from students import recipe as recipes

PAPER_SIZES = ["1.5b", "7b", "8b", "14b", "32b", "70b"]


def accepted_traces(path, n=48, **extra):
    rows = []
    for i in range(n):
        a, b = i % 9 + 1, (i * 7) % 9 + 1
        rows.append({"problem_id": f"p{i}", "sample": 0, "problem": f"What is {a} + {b}?",
                     "prompt": f"What is {a} + {b}?\nPlease reason step by step, and put your final answer "
                               "within \\boxed{}.",
                     "reasoning": f"{a} plus {b} is {a + b}.", "response": f"The answer is \\boxed{{{a + b}}}.",
                     **extra})
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "shard-000000.parquet")
    return path


def test_every_shipped_recipe_loads_and_validates():
    assert recipes.sizes() == sorted(PAPER_SIZES + ["tiny"])
    bases = {}
    for size in recipes.sizes():
        r = recipes.load(size)
        r.validate()  # TRL's SFTConfig accepts every value
        text = open(r.path).read()
        assert f"python -m factory.train_student --size {size}" in text.split("\nmodel:")[0]  # header: launch
        assert r.accelerate_config.is_file()
        bases[size] = r.model
    assert bases == {"1.5b": "Qwen/Qwen2.5-Math-1.5B", "7b": "Qwen/Qwen2.5-Math-7B", "8b": "meta-llama/Llama-3.1-8B",
                     "14b": "Qwen/Qwen2.5-14B", "32b": "Qwen/Qwen2.5-32B",
                     "70b": "meta-llama/Llama-3.3-70B-Instruct", "tiny": "tiny"}
    for size in ("1.5b", "7b"):  # 4k-context bases: the 32k max_length must be made real
        r = recipes.load(size)
        assert r.context["max_position_embeddings"] >= r.sft["max_length"] == 32_768


def test_accelerate_configs_parse_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    from students.recipe import ACCELERATE, STRATEGIES

    kinds = {}
    for strategy in STRATEGIES:
        c = load_config_from_file(str(ACCELERATE / f"{strategy}.yaml"))
        kinds[strategy] = (str(c.distributed_type).split(".")[-1],
                           (c.deepspeed_config or {}).get("offload_optimizer_device"))
    assert kinds == {"ddp": ("MULTI_GPU", None), "fsdp": ("FSDP", None), "zero3": ("DEEPSPEED", "none"),
                     "zero3_offload": ("DEEPSPEED", "cpu")}


@pytest.mark.parametrize("size", PAPER_SIZES)
def test_dry_run_offline_for_every_paper_size(size, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = accepted_traces(tmp_path / "acc")
    assert train_student.main(["--size", size, "--data", str(data), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "plan:" in out and "per GPU ≈" in out and "accelerate launch" in out
    assert "48 sequences" in out and "exceed max_length 32768" in out
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written
    nodes = {"1.5b": 1, "7b": 1, "8b": 1, "14b": 1, "32b": 2, "70b": 2}[size]  # s1 trained 32B on 16 H100s
    assert f"on {nodes} node(s)" in out and f"--num_machines {nodes}" in out
    assert ("--machine_rank $MACHINE_RANK" in out) == (nodes > 1)


def test_memory_estimate_follows_the_stated_formula():
    from students.architectures import BASES
    from students.plan import GB, plan

    r = recipes.load("7b")
    p = plan(BASES[r.model], r)
    s = 2 * 32_768
    layer_params = (7.62e9 - 152064 * 3584) / 28
    expected = (16 * 7.62e9 / 8 + 2 * (2 * layer_params + 152064 * 3584) + 2 * s * 3584 * 28 + 34 * s * 3584
                + 0 + 2 * GB)  # Liger on, flash/flex attention: no mask
    assert p.gpus == 8 and abs(p.per_gpu_gb * GB - expected) < 1e6
    assert "fp32 master weights" in p.assumes and "flash/flex" in p.assumes


def test_plan_matches_the_measured_h100_runs():
    """Peak allocated memory of the 1.5b shape on one H100 (issue 12), each run at its own
    attention, Liger and precision: the formula is within 15% of every one."""
    import dataclasses

    from students.architectures import BASES
    from students.plan import GB, H100_RUNS, allocated, per_gpu_bytes

    r = recipes.load("1.5b")
    one_gpu = dataclasses.replace(r.hardware, gpus_per_node=1, strategy="ddp")
    for label, max_length, attention, liger, fp32_master, measured in H100_RUNS:
        run = dataclasses.replace(r, sft={**r.sft, "max_length": max_length}, hardware=one_gpu,
                                  kernels="liger" if liger else "none")
        planned = allocated(per_gpu_bytes(BASES[r.model], run, 1, fp32_master=fp32_master,
                                          attention=attention)) / GB
        assert abs(planned / measured - 1) <= 0.15, (label, planned, measured)
    # The SDPA mask is what makes sdpa + packing the memory outlier at 32k.
    sdpa = per_gpu_bytes(BASES[r.model], dataclasses.replace(r, hardware=one_gpu), 1, attention="sdpa")
    assert sdpa["mask"] > 10 * GB and per_gpu_bytes(BASES[r.model], r, 8)["mask"] == 0


def _tiny_with(size: str, **changes):
    """A paper recipe's training settings on the tiny lab base (its tokenizer, its weights)."""
    import dataclasses

    from factory.lab import STUDENT_BASE

    recipe = recipes.load(size)
    return dataclasses.replace(recipe, model=str(STUDENT_BASE), context={} if size != "tiny" else recipe.context,
                               **changes)


def test_recipe_precision_lands_every_update(tmp_path):
    """bf16 weights under AdamW round away updates smaller than bf16's spacing (issue 12: about half
    the weights and no norm weight changed after 2 steps; bench/README.md, "On one H100"). The recipe's precision, 2 steps at
    its learning rate: every parameter moves, and the forward still computes in bf16."""
    import torch

    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    r = _tiny_with("1.5b")
    assert r.sft["bf16"] is True and r.sft["learning_rate"] == 4e-5
    conversations, _ = to_conversations(load_rows(str(accepted_traces(tmp_path / "acc"))))
    trainer = build_trainer(r, conversations, tmp_path / "o", max_steps=2, use_cpu=True, max_length=512,
                            gradient_accumulation_steps=1, warmup_steps=0, save_strategy="no", report_to="none")
    model = trainer.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert {p.dtype for p in before.values()} == {torch.float32}
    computed = []
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, i, o: computed.append(o.dtype))
    trainer.train()
    assert trainer.state.global_step == 2 and set(computed) == {torch.bfloat16}
    for name, p in model.named_parameters():
        changed = (p.detach() != before[name]).float().mean().item()
        floor = 0.9 if "embed_tokens" in name else 0.99  # rows of tokens absent from the batch get no gradient
        assert changed >= floor, (name, changed)


def test_packed_rows_keep_sequences_apart(tmp_path):
    """A real padding-free packed batch from the recipe's trainer, attended with the attention
    this machine resolves to: every sequence's logits equal its logits alone."""
    import torch

    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    r = _tiny_with("1.5b")
    conversations, _ = to_conversations(load_rows(str(accepted_traces(tmp_path / "acc"))))
    trainer = build_trainer(r, conversations, tmp_path / "o", use_cpu=True, bf16=False, max_length=512,
                            per_device_train_batch_size=2, report_to="none")
    assert trainer.model.config._attn_implementation == "sdpa"  # auto on a CPU
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1  # one flat row, no padding
    model = trainer.model.eval()
    pos = batch["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
    assert len(starts) >= 4  # several sequences in the row
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        for a, b in zip(starts, starts[1:]):
            alone = model(input_ids=batch["input_ids"][:, a:b], use_cache=False).logits[0]
            assert (packed[a:b] - alone).abs().max().item() < 1e-3


def _segments(batch):
    """(input_ids, labels) per sequence of a collated batch, packed or padded."""
    ids, labels = batch["input_ids"], batch["labels"]
    if "position_ids" in batch and "attention_mask" not in batch:  # packed, padding-free: one row
        pos = batch["position_ids"][0].tolist()
        starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
        return [(ids[0][a:b].tolist(), labels[0][a:b].tolist()) for a, b in zip(starts, starts[1:])]
    out = []
    for row_ids, row_labels, mask in zip(ids, labels, batch["attention_mask"]):
        n = int(mask.sum())
        out.append((row_ids[:n].tolist(), row_labels[:n].tolist()))
    return out


@pytest.mark.parametrize("packing", [True, False])
def test_labels_are_minus_100_on_every_prompt_token(packing, tmp_path):
    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    r = _tiny_with("tiny")
    conversations, _ = to_conversations(load_rows(str(accepted_traces(tmp_path / "acc"))))
    trainer = build_trainer(r, conversations, tmp_path / "o", packing=packing)
    tok = trainer.processing_class
    header = tok.encode("<|im_start|>assistant\n", add_special_tokens=False)
    batch = next(iter(trainer.get_train_dataloader()))
    assert ("attention_mask" not in batch) == packing
    segments = _segments(batch)
    assert len(segments) >= 2
    for ids, labels in segments:
        k = next(i + len(header) for i in range(len(ids)) if ids[i:i + len(header)] == header)
        assert all(label == -100 for label in labels[:k])           # the whole prompt, template included
        assert labels[k:] == ids[k:]                                 # the whole completion is trained
        text = tok.decode(ids[k:])
        assert text.startswith("<think>\n") and text.rstrip("\n").endswith("<|im_end|>")


def test_tiny_student_trains_saves_and_vllm_serves_it(tmp_path, capsys):
    data = accepted_traces(tmp_path / "acc", n=64)
    out = tmp_path / "student"
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(out), "--max-steps", "150"]) == 0
    printed = capsys.readouterr().out
    first, last = (float(x) for x in printed.split("loss ")[1].split(";")[0].split(" → "))
    assert last < first / 3, printed
    assert list((out / "checkpoints").glob("checkpoint-*"))
    model = out / "model"
    meta = json.loads((model / "factory_student.json").read_text())
    assert meta["steps"] == 150 and meta["trained_rows"] == 64
    assert "<think>" not in (model / "chat_template.jinja").read_text()  # the think block is the model's to write

    # Reloaded by a real vLLM engine, prompted the R1 way: it thinks, answers and stops.
    problems = tmp_path / "p.jsonl"
    problems.write_text('{"id": "q", "problem": "What is 2 + 3?"}\n')
    proc = subprocess.run(python_cmd("-m", "factory.generate", "--problems", str(problems), "--teacher", str(model),
                                     "--out", str(tmp_path / "gen"), "--samples", "1", "--temperature", "0",
                                     "--max-tokens", "64", "--max-model-len", "1024",
                                     "--gpu-memory-utilization", "0.2", "--enforce-eager"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = pq.ParquetDataset(tmp_path / "gen" / "traces").read().to_pylist()[0]
    assert row["completion"].startswith("<think>\n") and "</think>" in row["completion"]
    assert row["finish_reason"] == "stop" and "\\boxed{" in row["response"]


def test_rerun_resumes_from_the_latest_checkpoint(tmp_path, capsys):
    data = accepted_traces(tmp_path / "acc")
    out = tmp_path / "student"
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(out), "--max-steps", "20"]) == 0
    capsys.readouterr()
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(out), "--max-steps", "24"]) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "checkpoint-20" in printed and "trained 24 steps" in printed
    # a rerun with nothing left to train leaves the saved model byte for byte: the demo's evaluations
    # of it (named model@fingerprint) resume instead of being refused as another model's
    from factory.core.naming import fingerprint

    before, checkpoints = fingerprint(out / "model"), sorted((out / "checkpoints").iterdir())
    capsys.readouterr()
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(out), "--max-steps", "24"]) == 0
    assert "already trained" in capsys.readouterr().out
    assert fingerprint(out / "model") == before and sorted((out / "checkpoints").iterdir()) == checkpoints


def test_two_process_cpu_run_through_accelerate(tmp_path):
    data = accepted_traces(tmp_path / "acc")
    out = tmp_path / "student"
    proc = subprocess.run(python_cmd("-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu",
                                     "--num_machines", "1", "--mixed_precision", "no", "--main_process_port", "29533",
                                     "-m", "factory.train_student", "--size", "tiny", "--data", str(data),
                                     "--out", str(out), "--max-steps", "3", "--no-launch"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert (out / "model" / "model.safetensors").exists()
    assert json.loads((out / "model" / "factory_student.json").read_text())["steps"] == 3


@pytest.mark.parametrize("make, args, message", [
    (None, ["--size", "13b"], "unknown size '13b'; valid sizes: 1.5b, 14b, 32b, 70b, 7b, 8b, tiny"),
    (None, ["--size", "/nonexistent/mine.yaml"], "--size /nonexistent/mine.yaml: no such recipe file"),
    ("recipe:  use_liger_kernel: true", [], "sft.use_liger_kernel is deprecated by TRL; set `kernels: liger`"),
    ("recipe:attention: flash", [], "attention must be one of auto, flash_attention_3"),
    (None, ["--data", "/nonexistent/folder"], "no such file or folder"),
    ("empty", [], "no rows"),
    ("no_reasoning", [], "none of its 4 rows has both reasoning and a response"),
])
def test_bad_input_exits_2(make, args, message, tmp_path, capsys):
    data = tmp_path / "acc"
    if make == "empty":
        data.mkdir()
        pq.write_table(pa.table({"problem": pa.array([], pa.string()), "reasoning": pa.array([], pa.string()),
                                 "response": pa.array([], pa.string())}), data / "s.parquet")
    elif make and make.startswith("recipe:"):  # the user's own recipe: tiny.yaml with one line added
        accepted_traces(data)
        text = (recipes.RECIPES / "tiny.yaml").read_text()
        line = make.split(":", 1)[1]
        text = text.replace("\nsft:\n", f"\nsft:\n{line}\n") if line.startswith("  ") else text + line + "\n"
        (tmp_path / "mine.yaml").write_text(text)
        args = ["--size", str(tmp_path / "mine.yaml")]
    elif make == "no_reasoning":
        data.mkdir()
        pq.write_table(pa.table({"problem": ["q"] * 4, "reasoning": [""] * 4, "response": ["r"] * 4}),
                       data / "s.parquet")
    argv = ["--size", "tiny", "--data", str(data), "--out", str(tmp_path / "o")]
    for i in range(0, len(args), 2):
        argv[argv.index(args[i]) + 1] = args[i + 1]
    assert train_student.main(argv) == 2
    assert message in capsys.readouterr().err


def test_own_recipe_by_path_trains_and_reports_the_mean_loss(tmp_path, capsys):
    """--size takes the user's recipe file; with fewer steps than logging_steps the summary
    gives the run's mean loss, not "nan → nan"."""
    own = tmp_path / "tiny-16.yaml"
    own.write_text((recipes.RECIPES / "tiny.yaml").read_text().replace("max_length: 1024", "max_length: 256"))
    data = accepted_traces(tmp_path / "acc")
    out = tmp_path / "student"
    assert train_student.main(["--size", str(own), "--data", str(data), "--out", str(out), "--max-steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed and "mean loss " in printed and "trained 2 steps" in printed
    assert float(printed.split("mean loss ")[1].split(";")[0]) > 0
    meta = json.loads((out / "model" / "factory_student.json").read_text())
    assert meta["size"] == "tiny-16" and meta["recipe"] == str(own) and meta["attention"] == "sdpa"


def test_dry_run_names_the_packages_and_a_sharded_launch_needs_them(tmp_path, capsys, monkeypatch):
    from importlib.util import find_spec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = accepted_traces(tmp_path / "acc")
    assert train_student.main(["--size", "7b", "--data", str(data), "--dry-run"]) == 0
    out = capsys.readouterr().out
    have = find_spec("deepspeed") is not None
    line = next(x for x in out.splitlines() if x.strip().startswith("deepspeed"))
    assert "strategy: zero3" in line and ("installed" if have else "MISSING: pip install 'r1-factory[gpu]'") in line
    assert any(x.strip().startswith("liger_kernel") for x in out.splitlines())
    if not have:  # several GPUs, zero3, no deepspeed: a clear error before anything is launched
        monkeypatch.setattr(train_student, "_gpus", lambda: 8)
        assert train_student.main(["--size", "7b", "--data", str(data), "--out", str(tmp_path / "o")]) == 2
        assert "strategy: zero3 needs deepspeed (pip install 'r1-factory[gpu]')" in capsys.readouterr().err
        assert not (tmp_path / "o").exists()


def test_a_package_that_is_installed_but_does_not_import_is_reported(tmp_path, monkeypatch):
    from students.runtime import _imports

    (tmp_path / "half_installed").mkdir()
    (tmp_path / "half_installed" / "__init__.py").write_text("import triton_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok, error = _imports("half_installed")
    assert not ok and "ModuleNotFoundError" in error and "triton_that_is_not_there" in error
    assert _imports("json") == (True, "") and _imports("no_such_package_anywhere") == (False, "")


def test_set_overrides_recipe_fields_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = recipes.load("7b", ["sft.learning_rate=1e-5", "attention=sdpa", "hardware.gpus_per_node=4",
                            "sft.lr_scheduler_kwargs={min_lr_rate: 0.2}"])
    assert r.sft["learning_rate"] == 1e-5 and isinstance(r.sft["learning_rate"], float)
    assert r.attention == "sdpa" and r.hardware.gpus_per_node == 4 and r.sft["lr_scheduler_kwargs"] == {"min_lr_rate": 0.2}
    assert r.sft["max_length"] == recipes.load("7b").sft["max_length"]  # the rest of the file stays
    r.validate()
    data = accepted_traces(tmp_path / "acc")
    assert train_student.main(["--size", "7b", "--data", str(data), "--dry-run", "--set", "sft.max_length=4096",
                               "hardware.gpus_per_node=2"]) == 0
    out = capsys.readouterr().out
    assert "max_length: 4096" in out and "plan: 2 GPU(s)" in out and "exceed max_length 4096" in out
    assert "--set sft.max_length=4096 hardware.gpus_per_node=2 --no-launch" in out  # the cluster runs the same
    for bad, message in [("foo.bar=1", "'foo' has no fields"), ("learning_rate", "expected FIELD=VALUE"),
                         ("sft.no_such_field=1", "--set 'sft.no_such_field=1': sft.no_such_field: unknown field"),
                         ("attention=fast", "attention must be one of")]:
        assert train_student.main(["--size", "7b", "--data", str(data), "--dry-run", "--set", bad]) == 2
        assert message in capsys.readouterr().err


def test_multi_gpu_relaunch_runs_accelerate_with_arguments_not_a_shell_string(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(train_student, "_gpus", lambda: 2)
    monkeypatch.setattr("subprocess.call", lambda args, **kw: calls.append((args, kw)) or 0)
    data = accepted_traces(tmp_path / "acc dir")  # a space: a shell string would split it
    assert train_student.main(["--size", "tiny", "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    (args, kw), = calls
    assert "shell" not in kw and args[1:3] == ["-m", "accelerate.commands.launch"]
    assert args[args.index("--num_processes") + 1] == "2" and str(data) in args and args[-1] == "--no-launch"


def test_unfinished_rows_are_dropped_unless_kept_as_written(tmp_path):
    """A loop cut at the context has reasoning and no response: dropped (counted) by default;
    with --keep-unfinished, trained as the teacher wrote it, think block open, no answer."""
    import datasets

    from students.data import to_conversations

    loop = "9 + 7 = 16.\n" + "Wait, let me check again: 9 + 7 = 16.\n" * 30
    ds = datasets.Dataset.from_list([
        {"problem": "What is 9 + 7?", "reasoning": "9 + 7 = 16.", "response": "The answer is \\boxed{16}."},
        {"problem": "What is 9 + 7?", "reasoning": loop, "response": None},
        {"problem": "What is 9 + 7?", "reasoning": "", "response": None}])
    used, report = to_conversations(ds)
    assert (report.used, report.dropped_no_reasoning, report.unfinished) == (1, 2, 0)
    used, report = to_conversations(ds, unfinished=True)
    assert (report.used, report.dropped_no_reasoning, report.unfinished) == (2, 1, 1)
    cut = used[1]["completion"][0]["content"]
    assert cut == "<think>\n" + loop.strip() and "</think>" not in cut
    assert used[0]["completion"][0]["content"].endswith("</think>\n\nThe answer is \\boxed{16}.")


def test_length_bucketed_training_weighs_every_token_the_same(tmp_path):
    """Under length buckets a step's loss is its token sum over the dataset's mean trained tokens
    per row times its rows, not over its own token count: a step of long traces (loops) must not
    make each of its tokens count less."""
    from students.data import load_rows, to_conversations
    from students.sft import build_trainer

    r = _tiny_with("tiny")
    assert r.length_buckets
    conversations, _ = to_conversations(load_rows(str(accepted_traces(tmp_path / "acc"))))
    t = build_trainer(r, conversations, tmp_path / "o", max_steps=1, save_strategy="no", report_to="none")
    labels = t.train_dataset["labels"]
    assert t.tokens_per_row == pytest.approx(sum(sum(x != -100 for x in row) for row in labels) / len(labels))
    batch = next(iter(t.get_train_dataloader()))
    rows = batch["labels"].shape[0]
    assert float(t._get_num_items_in_batch([batch], "cpu")) == pytest.approx(t.tokens_per_row * rows)
    plain = build_trainer(dataclasses.replace(r, length_buckets=None), conversations, tmp_path / "p", max_steps=1,
                          save_strategy="no", report_to="none", train_sampling_strategy="random")
    assert not hasattr(plain, "tokens_per_row")  # without buckets, the usual mean over the step's tokens
