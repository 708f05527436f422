"""What a recipe needs from the machine it trains on: the attention kernel and the packages.

Attention (the recipe's `attention: auto`): on one H100 with the 1.5b shape and packed
padding-free rows, flex_attention (a block-sparse mask built from position_ids) ran several
times faster than sdpa (a dense block-diagonal mask, no flash kernel): bench/README.md, "On one
H100". So a GPU gets flash attention where the package is installed (FA3 on Hopper,
else FA2: varlen kernels fed the cu_seq_lens TRL's collator computes), else
flex_attention. A CPU gets sdpa: flex_attention compiles for seconds there
and neither is faster on the tiny student; both keep packed sequences apart
(tests/test_students.py compares their logits with each sequence alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

GPU_EXTRA = "pip install 'r1-factory[gpu]'"


@dataclass(frozen=True)
class Need:
    package: str        # the import name
    why: str            # which recipe setting needs it
    installed: bool     # it imports on this machine
    hint: str
    required: bool      # False: the run goes on without it (and says so)
    error: str = ""     # installed but failing to import: why


def _imports(name: str) -> tuple[bool, str]:
    """Whether `name` is installed and imports (a package can be installed and broken:
    Liger without triton, DeepSpeed against another torch)."""
    if find_spec(name) is None:
        return False, ""
    import contextlib
    import importlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            importlib.import_module(name)
        return True, ""
    except Exception as e:  # noqa: BLE001 - any failure to import is what we report
        return False, f"{type(e).__name__}: {str(e)[:200]}"


def _flash3() -> bool:
    from transformers.utils import is_flash_attn_3_available

    return is_flash_attn_3_available()


def _flash2() -> bool:
    from transformers.utils import is_flash_attn_2_available

    return is_flash_attn_2_available()


def resolve_attention(requested: str, on_gpu: bool) -> tuple[str, str]:
    """(attn_implementation, why) for the recipe's `attention` on this machine."""
    if requested != "auto":
        if requested == "flash_attention_3" and not (on_gpu and _flash3()):
            raise RuntimeError("attention: flash_attention_3 needs a Hopper GPU and the flash-attn-3 package "
                               "(flash_attn_interface); set `attention: auto` to fall back to flex_attention")
        if requested == "flash_attention_2" and not (on_gpu and _flash2()):
            raise RuntimeError("attention: flash_attention_2 needs a GPU and flash-attn (pip install flash-attn "
                               "--no-build-isolation); set `attention: auto` to fall back to flex_attention")
        return requested, "set by the recipe"
    if not on_gpu:
        return "sdpa", "auto on CPU"
    if _flash3():
        return "flash_attention_3", "auto: flash-attn-3 is installed"
    if _flash2():
        return "flash_attention_2", "auto: flash-attn is installed"
    return "flex_attention", "auto: GPU without flash-attn"


def needs(recipe) -> list[Need]:
    """The packages the recipe needs on its GPUs, and whether this machine has them."""
    wanted = []
    if recipe.hardware.strategy in ("zero3", "zero3_offload"):
        wanted.append(("deepspeed", f"strategy: {recipe.hardware.strategy}", GPU_EXTRA, True))
    if recipe.kernels == "liger":
        wanted.append(("liger_kernel", "kernels: liger", GPU_EXTRA, False))
    if recipe.attention in ("auto", "flash_attention_2"):
        wanted.append(("flash_attn", f"attention: {recipe.attention}",
                       "pip install flash-attn --no-build-isolation (needs the CUDA toolkit; without it, "
                       "auto uses flex_attention)", recipe.attention == "flash_attention_2"))
    if recipe.attention == "flash_attention_3":
        wanted.append(("flash_attn_interface", "attention: flash_attention_3",
                       "build flash-attn's hopper/ package (FlashAttention-3)", True))
    out = []
    for name, why, hint, required in wanted:
        ok, error = _imports(name)
        out.append(Need(name, why, ok, hint, required, error))
    return out


def missing_required(recipe) -> list[Need]:
    return [n for n in needs(recipe) if n.required and not n.installed]


def apply_kernels(recipe, model) -> str:
    """Liger's layer kernels on the loaded model (not its fused cross-entropy: TRL's fused
    LM head does that job). Returns what was applied, for the run's header."""
    if recipe.kernels != "liger":
        return "none"
    ok, error = _imports("liger_kernel")
    if not ok:
        print(f"note: kernels: liger, but liger-kernel {error or 'is not installed'} ({GPU_EXTRA}); training "
              "without it (the memory plan assumed it)")
        return "none (liger-kernel not available)"
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    _apply_liger_kernel_to_instance(model=model, cross_entropy=False, fused_linear_cross_entropy=False)
    return "liger (rope, rms_norm, swiglu)"
