"""How many GPUs a recipe needs, and the command that launches it.

Per-GPU memory of full fine-tuning with AdamW, in bytes (P parameters, N GPUs,
L layers, h hidden, I MLP width, V vocabulary, s = per_device_train_batch_size x
max_length tokens per micro-batch: TRL flattens a padding-free batch into one row).
What it assumes: fp32 master weights with bf16 compute (students/sft.py), TRL's
fused LM head (no full logits), gradient checkpointing.

  model states  16 P        fp32 weights, grads, Adam m and v (single GPU, DDP)
                + 2 P       bf16 copies of the weights autocast keeps during a step
                + 4 P       DDP's gradient buckets (several GPUs)
                16 P / N    ZeRO-3 / FSDP: all of it sharded
                 4 P / N    ZeRO-3 + optimizer offload (bf16 weights and grads; the rest in CPU RAM)
                + 2 (2 P_layer + V h)   ZeRO-3 / FSDP: two layers and the embedding gathered in bf16
  activations   2 s h L     layer inputs kept by gradient checkpointing (bf16)
                + 34 s h    one layer recomputed in backward (Korthikanti et al., 2022; no s^2 term)
                + 4 s I + 16 s h   without Liger: HF's SwiGLU products and fp32 RMSNorm copies
  mask          2.8 s^2     attention: sdpa with packing: a dense block-diagonal mask
  headroom      2 GB        CUDA context, allocator fragmentation (not in the peak-allocated figure)

Calibrated against one H100, the 1.5b shape, single GPU (peak allocated, issue 12):
tests/test_students.py holds the measured table and checks the formula within 15%.
The smallest N (whole nodes of gpus_per_node) with memory <= gpu_memory_gb wins.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9   # the H100 runs reported GB; an "80 GB" GPU holds 85.9e9 bytes, so this errs on the safe side

# The measured runs: (label, max_length, attention, liger, fp32 master weights, peak allocated GB).
# One H100 80 GB, Qwen2.5-Math-1.5B shape with random weights, per_device_train_batch_size 2,
# packing (bfd, padding-free), gradient checkpointing, TRL 1.16, torch 2.11. Rows with bf16
# weights are the pre-fix runs; the plan is evaluated with the precision each run used.
H100_RUNS = [
    ("sdpa, liger", 16384, "sdpa", True, False, 20.6),
    ("flex, liger", 16384, "flex_attention", True, False, 17.6),
    ("flex", 16384, "flex_attention", False, False, 19.2),
    ("flex, fp32 master", 16384, "flex_attention", False, True, 34.2),
    ("sdpa, liger, 32k", 32768, "sdpa", True, False, 32.3),
    ("flex, liger, 32k", 32768, "flex_attention", True, False, 20.3),
]


@dataclass
class Plan:
    gpus: int
    nodes: int
    per_gpu_gb: float
    breakdown: dict
    fits: bool
    assumes: str = ""


def attention_on_gpu(recipe) -> str:
    """What `attention` becomes on the cluster's GPUs (auto: flash or flex, no s^2 mask)."""
    return "flash/flex" if recipe.attention == "auto" else recipe.attention


def per_gpu_bytes(arch, recipe, gpus: int, *, fp32_master: bool = True, attention: str | None = None) -> dict:
    sft = recipe.sft
    s = int(sft.get("per_device_train_batch_size", 1)) * int(sft.get("max_length", 1024))
    p, h, layers = arch.params, arch.hidden, arch.layers
    strategy = recipe.hardware.strategy
    sharded = strategy != "ddp"
    if not fp32_master:  # the pre-fix runs: bf16 weights, grads and Adam states
        states = 8 * p
    elif strategy == "ddp":
        states = 18 * p + (4 * p if gpus > 1 else 0)
    else:
        states = (4 if strategy == "zero3_offload" else 16) * p / gpus
    layer_params = (p - arch.vocab * h) / layers
    gathered = 2 * (2 * layer_params + arch.vocab * h) if sharded else 0
    checkpointing = bool(sft.get("gradient_checkpointing", False))
    layer_act = 34 * s * h + (0 if recipe.kernels == "liger" else 4 * s * arch.intermediate + 16 * s * h)
    acts = (2 * s * h * layers + layer_act) if checkpointing else layer_act * layers
    attention = attention or attention_on_gpu(recipe)
    padding_free = bool(sft.get("packing")) or bool(sft.get("padding_free"))
    mask = 2.8 * s * s if attention in ("sdpa", "eager") and padding_free else 0
    return {"model_states": states, "gathered": gathered, "activations": acts, "mask": mask, "headroom": 2 * GB,
            "tokens_per_micro_batch": s, "attention": attention}


def allocated(b: dict) -> float:
    """The peak-allocated part of a breakdown (what torch.cuda.max_memory_allocated reports)."""
    return b["model_states"] + b["gathered"] + b["activations"] + b["mask"]


def plan(arch, recipe, max_nodes: int = 64) -> Plan:
    hw = recipe.hardware
    best = None
    assumes = (f"fp32 master weights + bf16 compute, attention {attention_on_gpu(recipe)}, "
               f"kernels {recipe.kernels}, TRL's fused LM head")
    for nodes in range(1, max_nodes + 1):
        gpus = nodes * hw.gpus_per_node
        b = per_gpu_bytes(arch, recipe, gpus)
        total = allocated(b) + b["headroom"]
        best = Plan(gpus, nodes, total / GB, b, hw.gpu_memory_gb == 0 or total / GB <= hw.gpu_memory_gb, assumes)
        if best.fits:
            return best
    return best


def launch_argv(recipe, plan: Plan, argv: list[str]) -> list[str]:
    """The `accelerate launch` command for this plan, as arguments. A multi-node plan leaves
    $MACHINE_RANK and $MAIN_PROCESS_IP for the scheduler's script to fill in."""
    args = ["accelerate", "launch", "--config_file", str(recipe.accelerate_config),
            "--num_processes", str(plan.gpus), "--num_machines", str(plan.nodes)]
    if plan.nodes > 1:
        args += ["--machine_rank", "$MACHINE_RANK", "--main_process_ip", "$MAIN_PROCESS_IP",
                 "--main_process_port", "29500"]
    return args + ["-m", "factory.train_student", *[a for a in argv if a != "--dry-run"], "--no-launch"]


def launch_command(recipe, plan: Plan, argv: list[str]) -> str:
    """`launch_argv` for a scheduler script: one option per line."""
    import shlex

    args = launch_argv(recipe, plan, argv)
    quoted = [a if a.startswith("$") else shlex.quote(a) for a in args]
    lines, i = [" ".join(quoted[:2])], 2
    while i < len(quoted):
        if quoted[i] == "-m":  # the program and its own arguments on the last line
            lines.append(" ".join(quoted[i:]))
            break
        lines.append(" ".join(quoted[i:i + 2]))
        i += 2
    return " \\\n    ".join(lines)
