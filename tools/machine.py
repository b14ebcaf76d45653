"""One line describing this machine's CPU for a speed figure: model, cores, instruction set, load (torch-free, so a
start-up benchmark can print it without paying for the imports it measures)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

ISA_FLAGS = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "BF16"), ("avx512_vnni", "VNNI"),
             ("amx_tile", "AMX"))


def cpu_line() -> str:
    """`2 cores (AMD EPYC ...; AVX2/AVX-512/BF16/VNNI), 1-min load 1.3`; from /proc on Linux, less elsewhere."""
    cpuinfo = _read("/proc/cpuinfo").splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                 platform.processor() or "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), []))
    isa = "/".join(name for flag, name in ISA_FLAGS if flag in flags) or "no AVX2"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return f"{cores} cores ({model}; {isa}), 1-min load average {load:.1f}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
