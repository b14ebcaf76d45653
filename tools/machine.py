"""One line describing the machine a figure was measured on: CPU model, the instruction sets that change inference
speed several-fold (AVX2, AVX-512, its BF16/VNNI extensions, AMX), cores, memory, load and library versions.

Every speed figure in the README and docs is quoted with this line, because a number without its machine misleads:
MesoInception4 runs 5-8x slower per frame on an AVX2-only CPU than on one with AVX-512 and AMX."""
from __future__ import annotations

import os
import platform
from pathlib import Path

ISA_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "BF16"), ("avx512_vnni", "VNNI"),
             ("amx_tile", "AMX"))


def read_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    cpuinfo = read_text("/proc/cpuinfo")
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                platform.processor() or "unknown CPU")


def instruction_sets() -> str:
    """'AVX2/AVX-512/BF16/VNNI' style summary of the CPU flags that matter for inference speed."""
    flags = set(next((line.split(":", 1)[1].split() for line in read_text("/proc/cpuinfo").splitlines()
                      if line.startswith("flags")), []))
    return "/".join(name for flag, name in ISA_FLAGS if flag in flags) or "no AVX2"


def describe(versions: dict[str, str] | None = None) -> str:
    """The machine line; `versions` adds library versions (name -> version) the caller has imported anyway."""
    mem = next((int(line.split()[1]) / 1024 ** 2 for line in read_text("/proc/meminfo").splitlines()
                if line.startswith("MemTotal")), 0.0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    libs = "".join(f", {name} {version}" for name, version in (versions or {}).items())
    return (f"{os.cpu_count()} cores ({cpu_model()}; {instruction_sets()}), {mem:.0f} GB RAM, no GPU used{libs}, "
            f"Python {platform.python_version()}; 1-min load average {load:.1f} at the start")
