"""Robustness benchmark for deepfake video detectors.

Python API: `benchmarks.run(RunConfig(...))` runs a benchmark into a run folder, `benchmarks.report(run_dirs)`
rebuilds metrics and reports from run folders, `benchmarks.train(TrainConfig(...), out)` fine-tunes a detector,
`benchmarks.check(run_dir, benchmarks.load_baseline(path), metrics)` is the regression gate's judgement.

This package face is lazy: names are imported on first use, so `import benchmarks` (and the command line's
argument checks) do not load torch or any stage.

It also binds the sibling packages `datasets`, `detectors`, `perturbations` and `reports` to this project's own
copies (`bind_project_packages`), before anything imports them: their names are generic, and without the binding a
`datasets/` folder in the working directory (first on `sys.path` under `python -m`; with an editable install even a
plain folder wins, as a namespace package) or another installed `datasets` (Hugging Face) would be imported instead.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("datasets", "detectors", "perturbations", "reports")

__all__ = ["RunConfig", "RunResult", "run", "report", "TrainConfig", "train", "build_baseline", "load_baseline",
           "check", "verdict_table"]

LAZY = {
    "RunConfig": "benchmarks.config:RunConfig",
    "RunResult": "benchmarks.runner:RunResult",
    "run": "benchmarks.runner:run",
    "report": "benchmarks.runner:report",
    "TrainConfig": "benchmarks.training.train:TrainConfig",
    "train": "benchmarks.training.train:train",
    "build_baseline": "benchmarks.metrics.gate:build_baseline",
    "load_baseline": "benchmarks.metrics.gate:load_baseline",
    "check": "benchmarks.metrics.gate:check",
    "verdict_table": "benchmarks.metrics.gate:verdict_table",
}


def __getattr__(name: str):
    if name not in LAZY:
        raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
    module, attr = LAZY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class ProjectPackages(importlib.abc.MetaPathFinder):
    """Finds the sibling packages at this project's root, ahead of `sys.path`; their submodules follow from the
    package's `__path__` as usual. Installed first on `sys.meta_path`, so nothing on `sys.path` can shadow them."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in PROJECT_PACKAGES:
            return None
        folder = ROOT / fullname
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def is_project_package(module, name: str) -> bool:
    """Whether an imported module is this project's package `name` (not a namesake found elsewhere)."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None) or getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve() == ROOT / name / "__init__.py"


def bind_project_packages() -> None:
    """Make `import datasets` (and the other siblings) mean this project's package in this process and in the
    worker processes, which import `benchmarks` first (forkserver preload, unpickling `benchmarks.*` functions).
    A namesake imported before `benchmarks` cannot be replaced without breaking its users: ImportError naming it."""
    for name in PROJECT_PACKAGES:
        module = sys.modules.get(name)
        if module is not None and not is_project_package(module, name):
            where = getattr(module, "__file__", None) or list(getattr(module, "__path__", [])) or "unknown location"
            raise ImportError(
                f"another package named {name!r} ({where}) was imported before benchmarks; this project's "
                f"{name!r} package ({ROOT / name}) cannot be loaded beside it in one process: import benchmarks "
                f"first, or import the other {name!r} in a separate process", name=name)
    if not any(type(finder).__name__ == ProjectPackages.__name__ and getattr(finder, "root", None) == ROOT
               for finder in sys.meta_path):
        finder = ProjectPackages()
        finder.root = ROOT
        sys.meta_path.insert(0, finder)


bind_project_packages()
