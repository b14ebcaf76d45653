"""Robustness benchmark for deepfake video detectors.

Python API: `benchmarks.run(RunConfig(...))` runs a benchmark into a run folder, `benchmarks.report(run_dirs)`
rebuilds metrics and reports from run folders, `benchmarks.load_run(dir)` reads a run's results as pandas
DataFrames, `benchmarks.train(TrainConfig(...), out)` fine-tunes a detector,
`benchmarks.check(run_dir, benchmarks.load_baseline(path), metrics)` is the regression gate's judgement,
`benchmarks.predict(paths, detectors=..., levels=...)` scores single videos (a list of `benchmarks.Prediction`;
`benchmarks.severity_profiles(rows)` finds where verdicts flip).

This package face is lazy: names are imported on first use, so `import benchmarks` (and the command line's
argument checks) do not load torch or any stage.

Importing it first binds the sibling packages `datasets`, `detectors`, `perturbations` and `reports` to this
project's own copies (`benchmarks.binding`), before anything imports them.
"""
from __future__ import annotations

import importlib

from benchmarks import binding  # noqa: F401  (first: the siblings' generic names mean this project's packages)

__all__ = ["RunConfig", "RunResult", "RunData", "load_run", "run", "report", "TrainConfig", "train", "build_baseline",
           "load_baseline", "check", "verdict_table", "leaderboard", "protocol_differences", "protocol_mismatch",
           "predict", "Prediction", "severity_profiles"]

LAZY = {
    "RunConfig": "benchmarks.config:RunConfig",
    "RunResult": "benchmarks.run_folder.results:RunResult",
    "RunData": "benchmarks.run_folder.results:RunData",
    "load_run": "benchmarks.run_folder.results:load_run",
    "run": "benchmarks.runner:run",
    "report": "benchmarks.runner:report",
    "TrainConfig": "benchmarks.training.train:TrainConfig",
    "train": "benchmarks.training.train:train",
    "build_baseline": "benchmarks.metrics.gate:build_baseline",
    "load_baseline": "benchmarks.metrics.gate:load_baseline",
    "check": "benchmarks.metrics.gate:check",
    "leaderboard": "benchmarks.metrics.leaderboard:leaderboard",
    "verdict_table": "benchmarks.metrics.gate:verdict_table",
    "predict": "benchmarks.prediction.api:predict",
    "Prediction": "benchmarks.prediction.rows:Prediction",
    "severity_profiles": "benchmarks.prediction.profile:severity_profiles",
    "protocol_differences": "benchmarks.metrics.gate:protocol_differences",
    "protocol_mismatch": "benchmarks.metrics.gate:protocol_mismatch",
}


def __getattr__(name: str):
    if name not in LAZY:
        raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
    module, attr = LAZY[name].split(":")
    return getattr(importlib.import_module(module), attr)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
