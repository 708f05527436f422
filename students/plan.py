"""How many GPUs a recipe needs, and the command that launches it.

Per-GPU memory, full fine-tuning in bf16 with AdamW (P parameters, N GPUs,
s = per_device_train_batch_size x max_length tokens per micro-batch, packed):

  model states   16 P / N     (2 bf16 weights + 2 bf16 grads + 12 fp32 master/Adam m/v), ZeRO-3/FSDP
                 16 P         with DDP (every GPU holds everything)
                  4 P / N     with ZeRO-3 + optimizer offload (the 12 bytes live in CPU RAM)
  activations    2 s h L      layer inputs kept by gradient checkpointing (bf16)
               + 34 s h       one layer recomputed during backward (Korthikanti et al., 2022,
                              flash attention: no s^2 term)
               + 4 s V        fp32 logits, unless Liger's fused linear cross-entropy is on
  overhead       2 GB         CUDA context, allocator fragmentation

The smallest N (whole nodes of gpus_per_node) with memory <= gpu_memory_gb wins.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024 ** 3


@dataclass
class Plan:
    gpus: int
    nodes: int
    per_gpu_gb: float
    breakdown: dict
    fits: bool


def per_gpu_bytes(arch, recipe, gpus: int) -> dict:
    sft = recipe.sft
    s = int(sft.get("per_device_train_batch_size", 1)) * int(sft.get("max_length", 1024))
    p = arch.params
    strategy = recipe.hardware.strategy
    states = {"ddp": 16 * p, "fsdp": 16 * p / gpus, "zero3": 16 * p / gpus, "zero3_offload": 4 * p / gpus}[strategy]
    checkpointing = bool(sft.get("gradient_checkpointing", False))
    layer_act = 34 * s * arch.hidden
    acts = (2 * s * arch.hidden * arch.layers + layer_act) if checkpointing else layer_act * arch.layers
    logits = 0 if sft.get("use_liger_kernel") else 4 * s * arch.vocab
    return {"model_states": states, "activations": acts, "logits": logits, "overhead": 2 * GB,
            "tokens_per_micro_batch": s}


def plan(arch, recipe, max_nodes: int = 64) -> Plan:
    hw = recipe.hardware
    best = None
    for nodes in range(1, max_nodes + 1):
        gpus = nodes * hw.gpus_per_node
        b = per_gpu_bytes(arch, recipe, gpus)
        total = b["model_states"] + b["activations"] + b["logits"] + b["overhead"]
        best = Plan(gpus, nodes, total / GB, b, hw.gpu_memory_gb == 0 or total / GB <= hw.gpu_memory_gb)
        if best.fits:
            return best
    return best


def launch_command(recipe, plan: Plan, argv: list[str]) -> str:
    """The `accelerate launch` line for a scheduler (one line per node: set MACHINE_RANK)."""
    parts = ["accelerate launch", f"--config_file {recipe.accelerate_config}", f"--num_processes {plan.gpus}",
             f"--num_machines {plan.nodes}"]
    if plan.nodes > 1:
        parts += ["--machine_rank $MACHINE_RANK", "--main_process_ip $MAIN_PROCESS_IP", "--main_process_port 29500"]
    import shlex

    parts.append("-m factory.train_student " + shlex.join([a for a in argv if a != "--dry-run"] + ["--no-launch"]))
    return " \\\n    ".join(parts)
