"""Robustness benchmark for deepfake video detectors. Python API: `benchmarks.run(RunConfig(...))`.

Attributes are imported on first use so that `import benchmarks.video` (or `python -m benchmarks list`)
does not load torch or every stage.
"""
from __future__ import annotations

__all__ = ["RunConfig", "RunResult", "run"]


def __getattr__(name: str):
    if name == "RunConfig":
        from .config import RunConfig
        return RunConfig
    if name in ("run", "RunResult"):
        from . import runner
        return getattr(runner, name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
