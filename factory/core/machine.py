"""What this machine is, for the choices that depend on it and for the line every benchmark
prints beside its figures: CPUs differ between machines of one kind (AVX-512 with native bf16,
or AVX2 only), and a figure without them cannot be compared."""

from __future__ import annotations

import os

NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
REPORTED = ("avx512f", "avx512_bf16", "amx_bf16", "avx2")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo); empty where that file does not exist."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, which a container or `taskset` narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_line(flags: set[str] | None = None) -> str:
    """`CPU flags: avx512f=no avx512_bf16=no amx_bf16=no avx2=yes; 2 CPUs`: what a benchmark prints."""
    flags = cpu_flags() if flags is None else flags
    shown = " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in REPORTED) if flags else "unknown"
    return f"CPU flags: {shown}; {cpu_count()} CPUs"
