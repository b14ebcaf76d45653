"""A finished run's results as pandas objects: `load_run(DIR)` and the `RunResult` that `benchmarks.run` returns.

    >>> run = benchmarks.load_run("runs/20250101-120000-meso")          # doctest: +SKIP
    >>> run.metrics.query("metric == 'auc'").pivot(index="level", columns="detector", values="value")
    >>> run.scores.groupby(["detector", "level"], observed=True)["score"].mean()

The files stay the contract (`reports.run_files`); these objects only read them, once, on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from reports.frames import metrics_frame, scores_frame
from reports.run_files import MANIFEST_FILE, METRICS_FILE, SCORES_FILE, read_json, read_scores

__all__ = ["RunData", "load_run"]


@dataclass
class RunData:
    """A run folder's results: `.scores` (scores.csv, typed), `.metrics` (metrics.json's video-level metrics in
    long format: detector, level, metric, value, lo, hi), `.manifest` (dict) and `.document` (metrics.json)."""

    run_dir: Path

    @cached_property
    def scores(self) -> pd.DataFrame:
        return scores_frame(read_scores(Path(self.run_dir) / SCORES_FILE))

    @cached_property
    def document(self) -> dict[str, Any]:
        return read_json(Path(self.run_dir) / METRICS_FILE)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return metrics_frame(self.document)

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return read_json(Path(self.run_dir) / MANIFEST_FILE)


@dataclass
class RunResult(RunData):
    """What `benchmarks.run` returns: the run's results as in `load_run`, plus the per-level metric objects
    (`level_metrics`, what the command line prints) and whether the run completed."""

    level_metrics: list = field(default_factory=list)
    complete: bool = False


def load_run(run_dir: str | Path) -> RunData:
    """The results of the run folder `run_dir`; FileNotFoundError naming what is missing when it is no finished
    run folder (manifest, metrics and scores)."""
    run_dir = Path(run_dir)
    missing = [n for n in (MANIFEST_FILE, METRICS_FILE, SCORES_FILE) if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: not a finished run folder (missing {', '.join(missing)})")
    return RunData(run_dir)
